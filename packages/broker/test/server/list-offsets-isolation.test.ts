/**
 * The gRPC ListOffsets' isolation_level: a read_committed SDK consumer's "latest" is the last stable
 * offset, as on the Kafka listener (test/kafka/list-offsets-isolation.test.ts); absent (an older client)
 * is read_uncommitted. Real partition log: 10 committed records at timestamp 1000, then an open
 * transaction's 3 records (offsets 10-12) at 5000.
 */
import type { v1 } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import type { BrokerContext } from '../../src/server/context.js';
import { handleListOffsets } from '../../src/server/handlers/list-offsets.js';
import { leaderPerTest } from './leader-fixture.js';

const fixture = leaderPerTest('samsa-grpc-list-offsets-');

const withOpenTransaction = (): Promise<BrokerContext> => fixture.leaderWithOpenTransaction();

async function offsetOf(ctx: BrokerContext, timestamp: number, isolationLevel?: number): Promise<number> {
  // As the gRPC server decodes it: a request without the field (an older client) reads 0.
  const answer = await handleListOffsets(ctx, {
    topics: [{ name: 't', partitions: [{ partition: 0, timestamp }] }],
    isolationLevel: isolationLevel ?? 0,
  } as v1.ListOffsetsRequest__Output);
  const p = answer.topics![0]!.partitions![0]!;
  expect(p.errorCode).toBe(0);
  return Number(p.offset);
}

describe('gRPC ListOffsets isolation_level', () => {
  it('read_committed latest is the last stable offset; read_uncommitted and absent the high watermark', async () => {
    const ctx = await withOpenTransaction();
    expect(await offsetOf(ctx, -1, 1)).toBe(10);
    expect(await offsetOf(ctx, -1, 0)).toBe(13);
    expect(await offsetOf(ctx, -1)).toBe(13);
    expect(await offsetOf(ctx, -2, 1)).toBe(0);
  });

  it('read_committed does not find by timestamp a record at or past the last stable offset', async () => {
    const ctx = await withOpenTransaction();
    expect(await offsetOf(ctx, 2000, 1)).toBe(-1);
    expect(await offsetOf(ctx, 2000, 0)).toBe(10);
    expect(await offsetOf(ctx, 1000, 1)).toBe(0);
  });
});
