/**
 * Fetch's min_bytes on the Kafka listener: 0 asks for an answer at once, with whatever there is (Kafka's
 * broker answers when the bytes readable reach min_bytes, and 0 bytes always do). The long poll used to
 * wait the whole max_wait_ms for a first byte. Real partition log with 10 records; the fetch asks at its end.
 */
import type { kafka } from '@samsa/protocol/kafka';
import { describe, expect, it } from 'vitest';
import { BROKER_SETTINGS, resolveSettings } from '../../src/config.js';
import { fetch } from '../../src/kafka/fetch.js';
import { FetchSessions } from '../../src/kafka/fetch-sessions.js';
import type { BrokerContext } from '../../src/server/context.js';
import { withTimeout } from '../../../../test/helpers/wait.js';
import { leaderPerTest } from '../server/leader-fixture.js';
import { makeBatch } from '../storage/helpers.js';
import { fetchRequest } from './fetch-request.js';

const fixture = leaderPerTest('samsa-fetch-min-bytes-');

async function leader() {
  const { hosted, ctx, leaders } = await fixture.leader([1]);
  return { ctx: { ...ctx, settings: resolveSettings(BROKER_SETTINGS) } as BrokerContext, hosted, leaders };
}

function fetchAt(ctx: BrokerContext, fetchOffset: number, minBytes: number, signal: AbortSignal) {
  const request = fetchRequest(fetchOffset, { maxWaitMs: 30_000, minBytes });
  return fetch(ctx, 11, request, signal, { fetchSessions: new FetchSessions(0, () => 1) });
}

describe('Fetch min_bytes on the Kafka listener', () => {
  it('0 answers at once at the log end (no record), not after max_wait_ms', async () => {
    const { ctx } = await leader();
    const abort = new AbortController();
    try {
      const reply = await withTimeout(fetchAt(ctx, 10, 0, abort.signal), 10_000, 'a fetch with min_bytes 0');
      const partition = (reply.body as kafka.FetchResponseData).responses[0]!.partitions[0]!;
      expect(partition).toMatchObject({ errorCode: 0, highWatermark: 10 });
      expect(partition.records!.length).toBe(0);
      reply.release?.();
    } finally {
      abort.abort(); // a fetch still parked (the defect) ends with the test
    }
  });

  it('1 still waits for a record: the long poll answers with the one appended after it parked', async () => {
    const { ctx, hosted, leaders } = await leader();
    const pending = fetchAt(ctx, 10, 1, new AbortController().signal);
    await leaders.append(hosted, makeBatch({ count: 1 }), 1, 1000, new AbortController().signal);
    const reply = await withTimeout(pending, 10_000, 'the long poll to answer');
    const partition = (reply.body as kafka.FetchResponseData).responses[0]!.partitions[0]!;
    expect(partition.highWatermark).toBe(11);
    expect(partition.records!.length).toBeGreaterThan(0);
    reply.release?.();
  });
});
