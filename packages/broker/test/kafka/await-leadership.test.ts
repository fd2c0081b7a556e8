import { afterEach, describe, expect, it, vi } from 'vitest';
import { BROKER_SETTINGS, resolveSettings } from '../../src/config.js';
import { awaitLeadership } from '../../src/kafka/partitions.js';
import type { BrokerContext } from '../../src/server/context.js';

/** The grace the tests run with: a wait for it fails the test by its timeout (nothing asserts on speed). */
const LONG_GRACE = resolveSettings(BROKER_SETTINGS, { 'leadership.wait.ms': '600000' });

/**
 * A broker 1 whose metadata holds topic t with the partitions given, whose replica takes up the leader
 * role on `lead()`, and whose coordinator holds the topics in `coordinator` (name: partition count).
 */
function broker(
  partitions: { leader: number; leaderEpoch: number; replicas: number[] }[],
  coordinator: Record<string, number> = { t: partitions.length },
  settings = resolveSettings(BROKER_SETTINGS),
) {
  let role: 'leader' | 'follower' | undefined;
  const reads: string[] = [];
  const topics = new Map([['t', { partitions }]]);
  const ctx = {
    brokerId: 1,
    settings,
    logger: { warn: () => {} },
    partitions: { get: () => (role === undefined ? undefined : { role, leaderState: {} }) },
    member: {
      metadata: { image: { topics } },
      topicPartitionCount: (topic: string) => {
        reads.push(topic);
        return Promise.resolve(coordinator[topic]);
      },
    },
  } as unknown as BrokerContext;
  return {
    ctx,
    reads,
    topics,
    lead: () => {
      role = 'leader';
    },
  };
}

const wanted = [{ topic: 't', partition: 0 }];
const aboutToLead = { leader: -1, leaderEpoch: -1, replicas: [1, 2] };

afterEach(() => {
  vi.useRealTimers();
});

describe('awaitLeadership (the Kafka listener)', () => {
  it('waits for a created partition before its first election, on a broker among its replicas', async () => {
    const { ctx, lead } = broker([aboutToLead]);
    let led = false;
    setTimeout(() => {
      led = true;
      lead();
    }, 100);
    await awaitLeadership(ctx, wanted, new AbortController().signal);
    expect(led).toBe(true);
  });

  it('answers at once for a partition with a state and no leader (offline), or led by another broker', async () => {
    for (const partition of [
      { leader: -1, leaderEpoch: 4, replicas: [1, 2] },
      { leader: 2, leaderEpoch: 4, replicas: [1, 2] },
      { leader: -1, leaderEpoch: -1, replicas: [2, 3] },
    ]) {
      const { ctx } = broker([partition]);
      // Never leads: an answer before the 5 s grace is the answer "at once" (no speed is asserted).
      const answered = await Promise.race([
        awaitLeadership(ctx, wanted, new AbortController().signal).then(() => 'answered'),
        new Promise((resolve) => setTimeout(resolve, 4000, 'waited')),
      ]);
      expect(answered, JSON.stringify(partition)).toBe('answered');
    }
  });

  it('answers at once for a topic neither its metadata nor the coordinator has', async () => {
    const { ctx, reads } = broker([aboutToLead], { t: 1 }, LONG_GRACE);
    await awaitLeadership(ctx, [{ topic: 'typo', partition: 0 }], new AbortController().signal);
    expect(reads).toEqual(['typo']);
  });

  it('answers at once for a partition past the count the coordinator has', async () => {
    const { ctx, reads } = broker([aboutToLead], { t: 1 }, LONG_GRACE);
    await awaitLeadership(ctx, [{ topic: 't', partition: 1 }], new AbortController().signal);
    expect(reads).toEqual(['t']);
  });

  it('answers a name no topic can have at once, without asking the coordinator', async () => {
    const { ctx, reads } = broker([aboutToLead], { t: 1 }, LONG_GRACE);
    await awaitLeadership(ctx, [{ topic: 'no/such', partition: 0 }], new AbortController().signal);
    expect(reads).toEqual([]);
  });

  it('waits for a topic (or added partition) the coordinator has and its metadata has not learned yet', async () => {
    for (const [coordinator, asked] of [
      [
        { t: 1, fresh: 1 },
        { topic: 'fresh', partition: 0 },
      ],
      [{ t: 2 }, { topic: 't', partition: 1 }],
    ] as const) {
      const { ctx, topics, lead } = broker([aboutToLead], coordinator, LONG_GRACE);
      let learned = false;
      setTimeout(() => {
        learned = true;
        const fresh = { partitions: [aboutToLead, aboutToLead] };
        topics.set(asked.topic, fresh);
        lead();
      }, 100);
      await awaitLeadership(ctx, [asked], new AbortController().signal);
      expect(learned, JSON.stringify(asked)).toBe(true);
    }
  });

  it('asks the coordinator about a hammered unknown topic once a second, not once a request', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { ctx, reads } = broker([aboutToLead], { t: 1 }, LONG_GRACE);
    const ask = () => awaitLeadership(ctx, [{ topic: 'typo', partition: 0 }], new AbortController().signal);
    await Promise.all([ask(), ask(), ask()]);
    await ask();
    expect(reads).toEqual(['typo']);
    vi.advanceTimersByTime(1001);
    await ask();
    expect(reads).toEqual(['typo', 'typo']);
  });
});
