/**
 * Group id "" on the Kafka listener's KIP-848 APIs, as Kafka 4 answers it: ConsumerGroupHeartbeat
 * INVALID_REQUEST (its request validation), ConsumerGroupDescribe INVALID_GROUP_ID, neither reaching the
 * coordinator, which takes "" for the offset APIs, DescribeGroups and DeleteGroups (driver.test.ts).
 */
import { ErrorCodes } from '@samsa/protocol';
import type { kafka } from '@samsa/protocol/kafka';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { consumerGroupDescribe, consumerGroupHeartbeat } from '../../src/kafka/consumer-groups.js';
import type { BrokerContext } from '../../src/server/context.js';

/** A coordinator that would describe group "" as an empty group (it has offsets) and fail any heartbeat. */
const ctx = {
  logger: pino({ level: 'silent' }),
  member: { metadata: { image: { topics: new Map() } } },
  groups: {
    describeClassic: () => undefined,
    describeGroup: async () => ({ groupId: '', state: 'Empty', epoch: 0, assignor: 'uniform', members: [] }),
    heartbeat: async () => {
      throw new Error('the coordinator was asked');
    },
  },
} as unknown as BrokerContext;

describe('group id "" on the Kafka listener', () => {
  it('ConsumerGroupHeartbeat: INVALID_REQUEST, at both versions', async () => {
    for (const version of [0, 1]) {
      const reply = await consumerGroupHeartbeat(
        ctx,
        version,
        {
          groupId: '',
          memberId: 'm',
          memberEpoch: 0,
          instanceId: null,
          rackId: null,
          rebalanceTimeoutMs: 30_000,
          subscribedTopicNames: ['t'],
          subscribedTopicRegex: null,
          serverAssignor: null,
          topicPartitions: [],
        } as kafka.ConsumerGroupHeartbeatRequestData,
        { clientId: 'c', clientHost: 'h' },
      );
      expect((reply.body as kafka.ConsumerGroupHeartbeatResponseData).errorCode).toBe(ErrorCodes.INVALID_REQUEST.code);
    }
  });

  it('ConsumerGroupDescribe: INVALID_GROUP_ID for "", the group for any other id', async () => {
    const reply = await consumerGroupDescribe(ctx, 1, { groupIds: ['', 'g'], includeAuthorizedOperations: false });
    const groups = (reply.body as kafka.ConsumerGroupDescribeResponseData).groups;
    expect(groups.map((g) => [g.groupId, g.errorCode])).toEqual([
      ['', ErrorCodes.INVALID_GROUP_ID.code],
      ['g', 0],
    ]);
  });
});
