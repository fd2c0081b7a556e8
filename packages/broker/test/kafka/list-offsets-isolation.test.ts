/**
 * ListOffsets' isolation level (v2+) on the Kafka listener: a read_committed consumer's "latest" is the
 * last stable offset, and a lookup by timestamp does not find a record at or past it, as on Kafka's
 * broker. A consumer reset to the high watermark while a transaction is open would skip that
 * transaction's records once it commits. Real partition log: 10 committed records, then an open
 * transaction's 3 records (offsets 10-12).
 */
import type { kafka } from '@samsa/protocol/kafka';
import { describe, expect, it } from 'vitest';
import { BROKER_SETTINGS, resolveSettings } from '../../src/config.js';
import { listOffsets } from '../../src/kafka/offsets.js';
import type { BrokerContext } from '../../src/server/context.js';
import { leaderPerTest } from '../server/leader-fixture.js';

const fixture = leaderPerTest('samsa-list-offsets-');

/** Broker 1 leading t-0 alone: offsets 0-9 committed at timestamp 1000, 10-12 an open transaction's at 5000. */
async function withOpenTransaction(): Promise<BrokerContext> {
  const ctx = await fixture.leaderWithOpenTransaction();
  return { ...ctx, settings: resolveSettings(BROKER_SETTINGS) } as BrokerContext;
}

async function offsetOf(ctx: BrokerContext, version: number, isolationLevel: number, timestamp: number) {
  const reply = await listOffsets(
    ctx,
    version,
    {
      replicaId: -1,
      isolationLevel,
      topics: [{ name: 't', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp, maxNumOffsets: 1 }] }],
    },
    new AbortController().signal,
  );
  const answer = (reply.body as kafka.ListOffsetsResponseData).topics[0]!.partitions[0]!;
  expect(answer.errorCode).toBe(0);
  return answer.offset;
}

describe('ListOffsets isolation level on the Kafka listener', () => {
  it('read_committed latest is the last stable offset; read_uncommitted the high watermark', async () => {
    const ctx = await withOpenTransaction();
    for (const v of [2, 5, 7]) {
      expect(await offsetOf(ctx, v, 1, -1), `v${v} read_committed`).toBe(10);
      expect(await offsetOf(ctx, v, 0, -1), `v${v} read_uncommitted`).toBe(13);
    }
  });

  it('read_committed does not find by timestamp a record past the last stable offset', async () => {
    const ctx = await withOpenTransaction();
    expect(await offsetOf(ctx, 2, 1, 2000)).toBe(-1);
    expect(await offsetOf(ctx, 2, 0, 2000)).toBe(10);
    expect(await offsetOf(ctx, 2, 1, 1000)).toBe(0);
  });

  it('MAX_TIMESTAMP (v7) finds no record past what the isolation level reads, as Kafka filters it', async () => {
    const ctx = await withOpenTransaction();
    // The largest timestamp (5000) is the open transaction's first record, offset 10.
    expect(await offsetOf(ctx, 7, 0, -3)).toBe(10);
    expect(await offsetOf(ctx, 7, 1, -3)).toBe(-1);
  });

  it('v0-v1 have no isolation level: the high watermark', async () => {
    const ctx = await withOpenTransaction();
    expect(await offsetOf(ctx, 1, 1, -1)).toBe(13);
  });
});

describe('ListOffsets leader epochs on the Kafka listener (v4+)', () => {
  async function ask(ctx: BrokerContext, currentLeaderEpoch: number, timestamp = -1) {
    const reply = await listOffsets(
      ctx,
      7,
      {
        replicaId: -1,
        isolationLevel: 0,
        topics: [{ name: 't', partitions: [{ partitionIndex: 0, currentLeaderEpoch, timestamp, maxNumOffsets: 1 }] }],
      },
      new AbortController().signal,
    );
    return (reply.body as kafka.ListOffsetsResponseData).topics[0]!.partitions[0]!;
  }

  it("latest answers the leader's epoch; the epoch the client names is checked as Fetch checks it", async () => {
    const ctx = await withOpenTransaction(); // broker 1 leads t-0 at epoch 0
    expect(await ask(ctx, -1)).toMatchObject({ errorCode: 0, offset: 13, leaderEpoch: 0 });
    expect(await ask(ctx, 0)).toMatchObject({ errorCode: 0, offset: 13, leaderEpoch: 0 });
    // A newer epoch than this broker knows: UNKNOWN_LEADER_EPOCH (the client retries); no offset.
    expect(await ask(ctx, 1)).toMatchObject({ errorCode: 75, offset: -1 });
    expect(await ask(ctx, 1, -3)).toMatchObject({ errorCode: 75, offset: -1 });
    // An older one: FENCED_LEADER_EPOCH (the client's metadata is stale and it refreshes it).
    fixture.opened!.leaderEpoch = 3;
    expect(await ask(ctx, 2, -2)).toMatchObject({ errorCode: 74, offset: -1 });
  });
});
