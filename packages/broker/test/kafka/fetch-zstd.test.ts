/**
 * ZStandard and Fetch versions on the Kafka listener (KIP-110): a consumer below Fetch v10 cannot read a
 * zstd batch. Kafka's broker answers a zstd topic's fetch below v10 UNSUPPORTED_COMPRESSION_TYPE (76);
 * here the batches decide (topics have no compression.type): v4-v9 get the batches before the first zstd
 * one, and the partition is refused when the next batch is zstd. The stored zstd batch was handed to
 * them as it is. v10+ read it; v0-v3 read it converted down (decompressed). Real partition log: offsets
 * 0-9 uncompressed, 10-11 one zstd batch.
 */
import { decodeBatches, encodeBatch } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import { describe, expect, it } from 'vitest';
import { BROKER_SETTINGS, resolveSettings } from '../../src/config.js';
import { fetch } from '../../src/kafka/fetch.js';
import { FetchSessions } from '../../src/kafka/fetch-sessions.js';
import type { BrokerContext } from '../../src/server/context.js';
import { leaderPerTest } from '../server/leader-fixture.js';
import { fetchRequest } from './fetch-request.js';

const fixture = leaderPerTest('samsa-fetch-zstd-');
const UNSUPPORTED_COMPRESSION_TYPE = 76;

async function withZstdBatch(): Promise<BrokerContext> {
  const { hosted, ctx, leaders } = await fixture.leader([1]);
  const zstd = encodeBatch([{ value: Buffer.from('z1') }, { value: Buffer.from('z2') }], {
    now: 2000,
    compression: 'zstd',
  });
  await leaders.append(hosted, zstd, 1, 1000, new AbortController().signal);
  expect(hosted.highWatermark).toBe(12);
  return { ...ctx, settings: resolveSettings(BROKER_SETTINGS) } as BrokerContext;
}

async function fetchAt(ctx: BrokerContext, version: number, fetchOffset: number) {
  const request = fetchRequest(fetchOffset);
  const reply = await fetch(ctx, version, request, new AbortController().signal, {
    fetchSessions: new FetchSessions(0, () => 1),
  });
  const partition = (reply.body as kafka.FetchResponseData).responses[0]!.partitions[0]!;
  const offsets =
    version < 4
      ? kafka.decodeMessageSet(partition.records!).map((m) => m.offset)
      : decodeBatches(partition.records!).flatMap((b) => b.records.map((r) => r.offset));
  reply.release?.();
  return { errorCode: partition.errorCode, highWatermark: partition.highWatermark, offsets };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('ZStandard batches and Fetch versions on the Kafka listener', () => {
  it('v4-v9: the batches before the first zstd one; at a zstd batch UNSUPPORTED_COMPRESSION_TYPE', async () => {
    const ctx = await withZstdBatch();
    for (const v of [4, 9]) {
      expect(await fetchAt(ctx, v, 0), `v${v}`).toEqual({ errorCode: 0, highWatermark: 12, offsets: range(0, 10) });
      expect(await fetchAt(ctx, v, 10), `v${v}`).toEqual({
        errorCode: UNSUPPORTED_COMPRESSION_TYPE,
        highWatermark: -1,
        offsets: [],
      });
    }
  });

  it('v10+ read the zstd batch as stored; v0-v3 read it converted down', async () => {
    const ctx = await withZstdBatch();
    for (const v of [10, 12, 0, 3])
      expect(await fetchAt(ctx, v, 0), `v${v}`).toEqual({ errorCode: 0, highWatermark: 12, offsets: range(0, 12) });
  });
});
