/**
 * KIP-320 on the gRPC consumer path: Fetch and ListOffsets check the leader epoch the client knows (an
 * older one is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH, -1 or absent is not checked), and
 * OffsetForLeaderEpoch answers where an epoch's records end from the leader's epoch cache. Real partition
 * log: offsets 0-9 written in epoch 0, then broker 1 leads again in epoch 3 and writes offsets 10-14.
 */
import { ErrorCodes, type v1 } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import type { BrokerContext } from '../../src/server/context.js';
import { handleFetch } from '../../src/server/handlers/fetch.js';
import { handleListOffsets } from '../../src/server/handlers/list-offsets.js';
import { handleOffsetForLeaderEpoch } from '../../src/server/handlers/offset-for-leader-epoch.js';
import { makeBatch } from '../storage/helpers.js';
import { leaderPerTest } from './leader-fixture.js';

const fixture = leaderPerTest('samsa-grpc-leader-epoch-');

/** Broker 1 leading t-0 in epoch 3: epoch 0 holds offsets 0-9, epoch 3 offsets 10-14. */
async function leaderInEpoch3(): Promise<BrokerContext> {
  const { hosted, leaders, ctx } = await fixture.leader([1]);
  hosted.leaderEpoch = 3;
  await leaders.becomeLeader(hosted, { kind: 'leader', leader: 1, leaderEpoch: 3, isr: [1], replicas: [1, 2] });
  await leaders.append(hosted, makeBatch({ count: 5 }), 1, 1000, new AbortController().signal);
  expect(hosted.epochCache.epochEntries).toEqual([
    { epoch: 0, startOffset: 0 },
    { epoch: 3, startOffset: 10 },
  ]);
  return Object.assign(ctx, { settings: { 'leadership.wait.ms': 1000 } });
}

async function fetchCode(ctx: BrokerContext, currentLeaderEpoch?: number): Promise<number> {
  const partition = {
    partition: 0,
    fetchOffset: 0,
    partitionMaxBytes: 1 << 20,
    ...(currentLeaderEpoch === undefined ? {} : { currentLeaderEpoch }),
  };
  const request = { maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0 };
  const answer = await handleFetch(
    ctx,
    { ...request, topics: [{ name: 't', partitions: [partition] }] },
    new AbortController().signal,
  );
  return answer.topics![0]!.partitions![0]!.errorCode!;
}

async function listOffsetsAnswer(ctx: BrokerContext, currentLeaderEpoch?: number, timestamp = -1) {
  const partition = {
    partition: 0,
    timestamp,
    ...(currentLeaderEpoch === undefined ? {} : { currentLeaderEpoch }),
  };
  const answer = await handleListOffsets(ctx, {
    topics: [{ name: 't', partitions: [partition] }],
    isolationLevel: 0,
  } as v1.ListOffsetsRequest__Output);
  const p = answer.topics![0]!.partitions![0]!;
  return {
    errorCode: p.errorCode,
    offset: p.offset,
    ...(p.leaderEpoch === undefined ? {} : { leaderEpoch: p.leaderEpoch }),
  };
}

async function endOffset(ctx: BrokerContext, leaderEpoch: number, currentLeaderEpoch = 3) {
  const answer = await handleOffsetForLeaderEpoch(
    ctx,
    { topics: [{ name: 't', partitions: [{ partition: 0, currentLeaderEpoch, leaderEpoch }] }] },
    new AbortController().signal,
  );
  const p = answer.topics![0]!.partitions![0]!;
  return { errorCode: p.errorCode, leaderEpoch: p.leaderEpoch, endOffset: p.endOffset };
}

describe('leader epochs on the gRPC consumer path (KIP-320)', () => {
  it('Fetch refuses an older epoch as fenced and a newer one as unknown', async () => {
    const ctx = await leaderInEpoch3();
    expect(await fetchCode(ctx, 2)).toBe(ErrorCodes.FENCED_LEADER_EPOCH.code);
    expect(await fetchCode(ctx, 4)).toBe(ErrorCodes.UNKNOWN_LEADER_EPOCH.code);
    expect(await fetchCode(ctx, 3)).toBe(0);
    expect(await fetchCode(ctx, -1)).toBe(0);
    // A caller that leaves the field out says nothing (it is optional: absent is not epoch 0).
    expect(await fetchCode(ctx)).toBe(0);
  });

  it('ListOffsets checks the epoch when the client names one, and not when it is absent', async () => {
    const ctx = await leaderInEpoch3();
    expect(await listOffsetsAnswer(ctx, 2)).toEqual({ errorCode: ErrorCodes.FENCED_LEADER_EPOCH.code, offset: -1 });
    expect(await listOffsetsAnswer(ctx, 4)).toEqual({ errorCode: ErrorCodes.UNKNOWN_LEADER_EPOCH.code, offset: -1 });
    // Latest comes with the leader's epoch: the consumer validates a position reset there (KIP-320).
    expect(await listOffsetsAnswer(ctx, 3)).toEqual({ errorCode: 0, offset: 15, leaderEpoch: 3 });
    expect(await listOffsetsAnswer(ctx, -1)).toEqual({ errorCode: 0, offset: 15, leaderEpoch: 3 });
    expect(await listOffsetsAnswer(ctx)).toEqual({ errorCode: 0, offset: 15, leaderEpoch: 3 });
    expect(await listOffsetsAnswer(ctx, 3, -2)).toEqual({ errorCode: 0, offset: 0 });
  });

  it("OffsetForLeaderEpoch answers where an epoch's records end, from the epoch cache", async () => {
    const ctx = await leaderInEpoch3();
    // Epoch 0 ended where epoch 3 began; epochs 1 and 2 never wrote here, so epoch 0 is the largest below them.
    expect(await endOffset(ctx, 0)).toEqual({ errorCode: 0, leaderEpoch: 0, endOffset: 10 });
    expect(await endOffset(ctx, 2)).toEqual({ errorCode: 0, leaderEpoch: 0, endOffset: 10 });
    // The current epoch is still being written: it ends at the log end.
    expect(await endOffset(ctx, 3)).toEqual({ errorCode: 0, leaderEpoch: 3, endOffset: 15 });
    // An epoch newer than the leader's is unknown to it.
    expect(await endOffset(ctx, 4)).toEqual({ errorCode: 0, leaderEpoch: -1, endOffset: -1 });
  });

  it("OffsetForLeaderEpoch checks the caller's current leader epoch as Fetch does", async () => {
    const ctx = await leaderInEpoch3();
    expect((await endOffset(ctx, 0, 2)).errorCode).toBe(ErrorCodes.FENCED_LEADER_EPOCH.code);
    expect((await endOffset(ctx, 0, 4)).errorCode).toBe(ErrorCodes.UNKNOWN_LEADER_EPOCH.code);
    expect(await endOffset(ctx, 0, -1)).toEqual({ errorCode: 0, leaderEpoch: 0, endOffset: 10 });
  });
});
