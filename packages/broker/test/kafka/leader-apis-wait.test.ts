/**
 * The Kafka listener's leader APIs answered right after CreateTopics: on a broker among a new partition's
 * replicas that has not taken its role yet, OffsetForLeaderEpoch and DescribeProducers wait for the role
 * (awaitLeadership) as Produce, Fetch, ListOffsets and DeleteRecords do, instead of answering
 * NOT_LEADER_OR_FOLLOWER. Real partition log; the role comes 100 ms after the request. And an acks=all
 * Produce that arrives while the new term saves its epoch cache (role set, term not started) waits too.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, SamsaError } from '@samsa/protocol';
import type { kafka } from '@samsa/protocol/kafka';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BROKER_SETTINGS, resolveSettings } from '../../src/config.js';
import { describeProducers } from '../../src/kafka/admin-ops.js';
import { offsetForLeaderEpoch } from '../../src/kafka/offsets.js';
import { produce } from '../../src/kafka/produce.js';
import type { BrokerContext } from '../../src/server/context.js';
import { DelayedOperations } from '../../src/server/delayed.js';
import type { HostedPartition } from '../../src/server/partitions.js';
import { deferred, waitFor } from '../../../../test/helpers/wait.js';
import { makeBatch } from '../storage/helpers.js';
import { hostedT0, leaderWithTenRecords, testLeaderDriver } from '../server/leader-fixture.js';

let dir: string | undefined;
/** aboutToLead's log: closed after each test (its files were left to the garbage collector, DEP0137). */
let opened: HostedPartition | undefined;
afterEach(async () => {
  await opened?.log.close();
  opened = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/**
 * Broker 1, a replica of t-0 whose metadata has the created partition before its first election (leader
 * and epoch -1); it takes the leader role (its log holds 10 records at epoch 0) 100 ms from now.
 */
async function aboutToLead(): Promise<BrokerContext> {
  dir = await mkdtemp(join(tmpdir(), 'samsa-leader-apis-'));
  const { hosted, ctx } = await leaderWithTenRecords(dir, [1, 2]);
  opened = hosted;
  let led = false;
  setTimeout(() => {
    led = true;
  }, 100);
  const notYet = () => new SamsaError(ErrorCodes.NOT_LEADER_OR_FOLLOWER, 'broker 1 does not lead t-0 yet');
  return {
    ...ctx,
    settings: resolveSettings(BROKER_SETTINGS),
    partitions: {
      get: () => (led ? hosted : undefined),
      leaderOf: () => {
        if (led) return hosted;
        throw notYet();
      },
    },
    member: {
      metadata: {
        image: { topics: new Map([['t', { partitions: [{ leader: -1, leaderEpoch: -1, replicas: [1, 2] }] }]]) },
      },
    },
  } as unknown as BrokerContext;
}

describe('leader APIs on a broker about to lead a created partition (the Kafka listener)', () => {
  it('OffsetForLeaderEpoch waits for the role and answers the end offset of the epoch', async () => {
    const ctx = await aboutToLead();
    const reply = await offsetForLeaderEpoch(
      ctx,
      3,
      {
        replicaId: -1,
        topics: [{ topic: 't', partitions: [{ partition: 0, currentLeaderEpoch: -1, leaderEpoch: 0 }] }],
      },
      new AbortController().signal,
    );
    expect(reply.body).toEqual({
      throttleTimeMs: 0,
      topics: [{ topic: 't', partitions: [{ errorCode: 0, partition: 0, leaderEpoch: 0, endOffset: 10 }] }],
    });
  });

  it('DescribeProducers waits for the role and answers the producer state', async () => {
    const ctx = await aboutToLead();
    const reply = await describeProducers(
      ctx,
      0,
      { topics: [{ name: 't', partitionIndexes: [0] }] },
      new AbortController().signal,
    );
    expect(reply.body).toEqual({
      throttleTimeMs: 0,
      topics: [
        { name: 't', partitions: [{ partitionIndex: 0, errorCode: 0, errorMessage: null, activeProducers: [] }] },
      ],
    });
  });
});

describe('Produce (acks=all) on a broker whose new term is starting (the Kafka listener)', () => {
  it('waits while the term saves its epoch cache instead of answering NOT_LEADER_OR_FOLLOWER', async () => {
    dir = await mkdtemp(join(tmpdir(), 'samsa-term-start-'));
    const waiters = new DelayedOperations();
    const cacheSaved = deferred<void>();
    let saving = false;
    // The epoch cache's save (an fsync on a busy disk) is held until the test lets it end.
    const leaders = testLeaderDriver({
      waiters,
      saveEpochCache: () => {
        saving = true;
        return cacheSaved.promise;
      },
    });
    // Its role as the replication driver sets it before the term starts.
    const hosted = await hostedT0(dir);
    const term = leaders.becomeLeader(hosted, { kind: 'leader', leader: 1, leaderEpoch: 0, isr: [1], replicas: [1] });
    await waitFor(() => saving, { description: 'the epoch cache being saved' });
    const ctx = {
      brokerId: 1,
      settings: resolveSettings(BROKER_SETTINGS),
      logger: pino({ level: 'silent' }),
      waiters,
      partitions: { leaderOf: () => hosted, get: () => hosted },
      knowsPartition: () => true,
      member: {
        metadata: {
          image: { topics: new Map([['t', { partitions: [{ leader: 1, leaderEpoch: 0, replicas: [1] }] }]]) },
        },
      },
      replication: { leaders },
    } as unknown as BrokerContext;
    setTimeout(() => cacheSaved.resolve(), 100);
    const reply = await produce(
      ctx,
      7,
      {
        transactionalId: null,
        acks: -1,
        timeoutMs: 5000,
        topicData: [{ name: 't', partitionData: [{ index: 0, records: makeBatch({ count: 3 }) }] }],
      },
      new AbortController().signal,
    );
    await term;
    const answer = (reply.body as kafka.ProduceResponseData).responses[0]!.partitionResponses[0]!;
    expect(answer).toMatchObject({ errorCode: 0, baseOffset: 0 });
    await hosted.log.close();
  });
});
