/**
 * ListGroups while this broker is still loading a `__consumer_offsets` partition it leads: the groups of
 * the loaded partitions with COORDINATOR_LOAD_IN_PROGRESS, as Kafka's group coordinator answers, so a
 * client (Java's admin listConsumerGroups, kafka-consumer-groups.sh --list) asks again instead of taking
 * a list without that partition's groups for the whole answer.
 */
import type { kafka } from '@samsa/protocol/kafka';
import { describe, expect, it } from 'vitest';
import { listGroups } from '../../src/kafka/groups.js';
import type { BrokerContext } from '../../src/server/context.js';

/** Broker 1 leads partitions 0 and 1 of a 3-partition `__consumer_offsets` (2 is led elsewhere); 0 is loaded. */
function coordinator(loaded: (partition: number) => boolean): BrokerContext {
  const led = new Set([0, 1]);
  return {
    brokerId: 1,
    member: {
      metadata: { image: { topics: new Map([['__consumer_offsets', { partitions: [{}, {}, {}] }]]) } },
    },
    partitions: {
      get: (topic: string, partition: number) =>
        topic === '__consumer_offsets' && led.has(partition) ? { role: 'leader' } : undefined,
    },
    groups: {
      isLoaded: loaded,
      classicGroups: () => [{ groupId: 'g', state: 'Stable', protocolType: 'consumer', type: 'classic' }],
    },
  } as unknown as BrokerContext;
}

const ask = (ctx: BrokerContext) =>
  listGroups(ctx, 4, { statesFilter: [], typesFilter: [] }).body as kafka.ListGroupsResponseData;

describe('ListGroups on the Kafka listener', () => {
  it('says COORDINATOR_LOAD_IN_PROGRESS while a partition it leads is loading', () => {
    const answer = ask(coordinator((p) => p === 0));
    expect(answer.errorCode).toBe(14);
    expect(answer.groups.map((g) => g.groupId)).toEqual(['g']);
  });

  it('answers without error once every partition it leads is loaded (one led elsewhere does not count)', () => {
    expect(ask(coordinator((p) => p !== 2)).errorCode).toBe(0);
  });
});
