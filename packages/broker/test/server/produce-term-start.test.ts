/**
 * The gRPC Produce on a broker just elected leader: metadata names it before it has its role, and its
 * role is set before its term has started (the new epoch is saved to the epoch cache first, an fsync).
 * An acks=all produce arriving then waits for the term and is answered with its offset, instead of
 * NOT_LEADER_OR_FOLLOWER (error 6), which cost the SDK's producer a retry and a backoff right after every
 * election. Real LeaderDriver and partition log; the epoch cache's save is held until the test lets it end.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, SamsaError, type v1 } from '@samsa/protocol';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BROKER_SETTINGS, resolveSettings } from '../../src/config.js';
import type { BrokerContext } from '../../src/server/context.js';
import { DEFAULT_LISTENER_NAME } from '../../src/listeners.js';
import { handleGrpcProduce } from '../../src/server/handlers/produce.js';
import type { HostedPartition } from '../../src/server/partitions.js';
import { deferred } from '../../../../test/helpers/wait.js';
import { makeBatch } from '../storage/helpers.js';
import { hostedT0, testLeaderDriver } from './leader-fixture.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** Every callback queued so far has run: a handler that would refuse at once has answered by then. */
const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Broker 1, the only replica of t-0, which metadata names leader of epoch 0 (leader 2 with `ledElsewhere`).
 * Its replica has no role until `elect()`, which sets it (as the replication driver does) and starts
 * the term, whose epoch-cache save ends on `saveLands()`. The leadership wait is a minute unless given.
 */
async function newLeader(options: { ledElsewhere?: boolean; leadershipWaitMs?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'samsa-produce-term-'));
  const cacheSaved = deferred<void>();
  const leaders = testLeaderDriver({ saveEpochCache: () => cacheSaved.promise });
  const replica = await hostedT0(dir, {
    role: options.ledElsewhere ? 'follower' : undefined,
    leader: options.ledElsewhere ? 2 : -1,
  } as Partial<HostedPartition>);
  cleanups.push(async () => {
    await replica.log.close();
    await rm(dir, { recursive: true, force: true });
  });
  const ctx = {
    brokerId: 1,
    settings: resolveSettings(BROKER_SETTINGS, {
      'leadership.wait.ms': String(options.leadershipWaitMs ?? 60_000),
    }),
    logger: pino({ level: 'silent' }),
    partitions: {
      get: () => replica,
      leaderOf: () => {
        if (replica.role === 'leader') return replica;
        throw new SamsaError(ErrorCodes.NOT_LEADER_OR_FOLLOWER, 'broker 1 does not lead t-0');
      },
    },
    knowsPartition: () => true,
    listenerName: DEFAULT_LISTENER_NAME,
    member: {
      metadata: {
        image: {
          topics: new Map([
            ['t', { partitions: [{ leader: options.ledElsewhere ? 2 : 1, leaderEpoch: 0, replicas: [1] }] }],
          ]),
          brokers: new Map([
            [1, { id: 1, host: '127.0.0.1', port: 9092 }],
            [2, { id: 2, host: '127.0.0.1', port: 9093 }],
          ]),
        },
      },
    },
    replication: { leaders },
  } as unknown as BrokerContext;
  let term: Promise<void> | undefined;
  return {
    ctx,
    elect: () => {
      replica.role = 'leader';
      replica.leader = 1;
      term = leaders.becomeLeader(replica, { kind: 'leader', leader: 1, leaderEpoch: 0, isr: [1], replicas: [1] });
    },
    saveLands: async () => {
      cacheSaved.resolve();
      await term;
    },
  };
}

function produce(ctx: BrokerContext, options: { timeoutMs?: number; signal?: AbortSignal } = {}) {
  const request = {
    acks: -1,
    timeoutMs: options.timeoutMs ?? 60_000,
    topics: [{ name: 't', partitions: [{ partition: 0, records: makeBatch({ count: 3 }) }] }],
    transactionalId: '',
    addPartitionsToTxn: false,
  } as v1.ProduceRequest__Output;
  return handleGrpcProduce(ctx, request, options.signal ?? new AbortController().signal).then(
    (response) => response.topics?.[0]?.partitions?.[0],
  );
}

describe('gRPC Produce (acks=all) on a broker whose term is about to start', () => {
  it('waits while the new term saves its epoch cache, then appends and answers the offset', async () => {
    const { ctx, elect, saveLands } = await newLeader();
    elect();
    const answer = produce(ctx);
    await settled();
    await saveLands();
    expect(await answer).toMatchObject({ errorCode: 0, baseOffset: 0 });
  });

  it('waits for a role that metadata gives this broker before the broker has taken it up', async () => {
    const { ctx, elect, saveLands } = await newLeader();
    const answer = produce(ctx);
    await settled();
    elect();
    await settled();
    await saveLands();
    expect(await answer).toMatchObject({ errorCode: 0, baseOffset: 0 });
  });

  it('answers a partition led elsewhere at once', async () => {
    const { ctx } = await newLeader({ ledElsewhere: true });
    // KIP-951: the refusal names the leader metadata has.
    expect(await produce(ctx)).toMatchObject({
      errorCode: ErrorCodes.NOT_LEADER_OR_FOLLOWER.code,
      currentLeader: { leaderId: 2, leaderEpoch: 0 },
    });
  });

  it("waits no longer than the request's timeout, nor than leadership.wait.ms", async () => {
    const { ctx } = await newLeader();
    expect(await produce(ctx, { timeoutMs: 200 })).toMatchObject({
      errorCode: ErrorCodes.NOT_LEADER_OR_FOLLOWER.code,
    });
    const { ctx: shortWait } = await newLeader({ leadershipWaitMs: 200 });
    expect(await produce(shortWait)).toMatchObject({ errorCode: ErrorCodes.NOT_LEADER_OR_FOLLOWER.code });
  });

  it('stops waiting when the client goes away', async () => {
    const { ctx } = await newLeader();
    const client = new AbortController();
    const answer = produce(ctx, { signal: client.signal });
    await settled();
    client.abort();
    expect(await answer).toMatchObject({ errorCode: ErrorCodes.NOT_LEADER_OR_FOLLOWER.code });
  });
});
