/**
 * ListOffsets' leader epoch (v4+) on the Kafka listener, as Kafka's broker gives it: "latest" the leader's
 * epoch, "earliest" the epoch of the log start offset, a lookup by timestamp (and MAX_TIMESTAMP) the epoch
 * of the batch it found, -1 when it found nothing. (Every answer but "latest" said -1.) A client
 * resetting to an offset checks that epoch against its own (KIP-320's truncation detection). Real
 * partition log: offsets 0-9 written in epoch 0 at timestamp 1000, 10-11 in epoch 3 at 9000.
 */
import { encodeBatch } from '@samsa/protocol';
import type { kafka } from '@samsa/protocol/kafka';
import { describe, expect, it } from 'vitest';
import { BROKER_SETTINGS, resolveSettings } from '../../src/config.js';
import { listOffsets } from '../../src/kafka/offsets.js';
import type { BrokerContext } from '../../src/server/context.js';
import { leaderPerTest } from '../server/leader-fixture.js';

const fixture = leaderPerTest('samsa-list-offsets-epochs-');

async function twoEpochs(): Promise<BrokerContext> {
  const { hosted, leaders, ctx } = await fixture.leader([1]);
  hosted.leaderEpoch = 3; // a new term, as the partition manager starts one
  await leaders.becomeLeader(hosted, { kind: 'leader', leader: 1, leaderEpoch: 3, isr: [1], replicas: [1, 2] });
  const later = encodeBatch([{ value: Buffer.from('a') }, { value: Buffer.from('b') }], { now: 9000 });
  await leaders.append(hosted, later, 1, 1000, new AbortController().signal);
  expect([hosted.leaderEpoch, hosted.highWatermark]).toEqual([3, 12]);
  return { ...ctx, settings: resolveSettings(BROKER_SETTINGS) } as BrokerContext;
}

async function ask(ctx: BrokerContext, version: number, timestamp: number) {
  const reply = await listOffsets(
    ctx,
    version,
    {
      replicaId: -1,
      isolationLevel: 0,
      topics: [{ name: 't', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp, maxNumOffsets: 1 }] }],
    },
    new AbortController().signal,
  );
  const answer = (reply.body as kafka.ListOffsetsResponseData).topics[0]!.partitions[0]!;
  expect(answer.errorCode).toBe(0);
  return { offset: answer.offset, leaderEpoch: answer.leaderEpoch };
}

describe('ListOffsets leader epochs on the Kafka listener', () => {
  it('latest: the leader epoch; earliest: the epoch that wrote the log start offset', async () => {
    const ctx = await twoEpochs();
    expect(await ask(ctx, 4, -1)).toEqual({ offset: 12, leaderEpoch: 3 });
    expect(await ask(ctx, 4, -2)).toEqual({ offset: 0, leaderEpoch: 0 });
  });

  it('by timestamp and MAX_TIMESTAMP: the epoch of the batch found; nothing found is -1', async () => {
    const ctx = await twoEpochs();
    expect(await ask(ctx, 7, 500)).toEqual({ offset: 0, leaderEpoch: 0 });
    expect(await ask(ctx, 7, 5000)).toEqual({ offset: 10, leaderEpoch: 3 });
    expect(await ask(ctx, 7, -3)).toEqual({ offset: 10, leaderEpoch: 3 });
    expect(await ask(ctx, 7, 10_000)).toEqual({ offset: -1, leaderEpoch: -1 });
  });
});
