/**
 * The Kafka listener's leader APIs answered right after CreateTopics: on a broker among a new partition's
 * replicas that has not taken its role yet, OffsetForLeaderEpoch and DescribeProducers wait for the role
 * (awaitLeadership) as Produce, Fetch, ListOffsets and DeleteRecords do, instead of answering
 * NOT_LEADER_OR_FOLLOWER. Real partition log; the role comes 100 ms after the request.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, SamsaError } from '@samsa/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { describeProducers } from '../../src/kafka/admin-ops.js';
import { offsetForLeaderEpoch } from '../../src/kafka/offsets.js';
import type { BrokerContext } from '../../src/server/context.js';
import { leaderWithTenRecords } from '../server/leader-fixture.js';

let dir: string | undefined;
afterEach(async () => {
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
  let led = false;
  setTimeout(() => {
    led = true;
  }, 100);
  const notYet = () => new SamsaError(ErrorCodes.NOT_LEADER_OR_FOLLOWER, 'broker 1 does not lead t-0 yet');
  return {
    ...ctx,
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
