import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { FollowerDriver } from '../../src/replication/follower-driver.js';
import type { FetchSession, Replica, ReplicaFetchRequest, ReplicaFetchResponse } from '../../src/replication/index.js';

/** A follower replica of leader 1 with an empty answer's worth of state: its log ends at 100. */
function follower(topic: string, partition: number): Replica {
  const log = { state: 'online', logEndOffset: 100, logStartOffset: 0, savedLogStartOffset: 0 };
  return {
    topic,
    partition,
    log,
    epochCache: { latestEpoch: 0 },
    leaderState: undefined,
    role: 'follower',
    leaderEpoch: 0,
    leader: 1,
    isr: [1, 2],
    replicas: [1, 2],
    highWatermark: 0,
  } as unknown as Replica;
}

describe("the follower's fetch loop", () => {
  it("groups a fetch by topic and applies each partition's answer to its own replica, in any order", async () => {
    const requests: ReplicaFetchRequest[] = [];
    let answer: ((response: ReplicaFetchResponse) => void) | undefined;
    let fail: ((err: Error) => void) | undefined;
    const session: FetchSession = {
      fetch: (request) => {
        requests.push(request);
        return new Promise((resolve, reject) => {
          answer = resolve;
          fail = reject;
        });
      },
      close: (reason) => fail?.(reason),
    };
    const driver = new FollowerDriver({
      brokerId: 2,
      clock: systemClock,
      transport: { openFetchSession: () => session },
      saveEpochCache: async () => {},
      logger: pino({ level: 'silent' }),
    });
    // Followed interleaved across two topics: the request lists them by topic.
    const replicas = [follower('a', 0), follower('b', 0), follower('a', 1), follower('b', 1)];
    for (const r of replicas) driver.follow(r);
    try {
      await expect.poll(() => requests.length).toBe(1);
      const listed = requests[0]?.topics.map((t) => `${t.name}:${t.partitions.map((p) => p.partition).join(',')}`);
      expect(listed).toEqual(['a:0,1', 'b:0,1']);
      // Answered out of request order, each partition with a high watermark of its own.
      const part = (partition: number, highWatermark: number) => ({
        partition,
        errorCode: 0,
        errorMessage: '',
        highWatermark,
        logStartOffset: 0,
        records: Buffer.alloc(0),
      });
      answer?.({
        topics: [
          { name: 'b', partitions: [part(1, 14), part(0, 13)] },
          { name: 'a', partitions: [part(1, 12), part(0, 11)] },
        ],
      });
      await expect.poll(() => requests.length).toBe(2);
      expect(replicas.map((r) => `${r.topic}-${r.partition}:${r.highWatermark}`)).toEqual([
        'a-0:11',
        'b-0:13',
        'a-1:12',
        'b-1:14',
      ]);
    } finally {
      await driver.close();
    }
  });
});
