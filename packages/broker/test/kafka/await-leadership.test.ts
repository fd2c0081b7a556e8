import { describe, expect, it } from 'vitest';
import { awaitLeadership } from '../../src/kafka/partitions.js';
import type { BrokerContext } from '../../src/server/context.js';

/** A broker 1 whose metadata holds one partition as given, and whose replica takes up the leader role on `lead()`. */
function broker(partition: { leader: number; leaderEpoch: number; replicas: number[] }) {
  let role: 'leader' | 'follower' | undefined;
  const ctx = {
    brokerId: 1,
    partitions: { get: () => (role === undefined ? undefined : { role, leaderState: {} }) },
    member: { metadata: { image: { topics: new Map([['t', { partitions: [partition] }]]) } } },
  } as unknown as BrokerContext;
  return {
    ctx,
    lead: () => {
      role = 'leader';
    },
  };
}

const wanted = [{ topic: 't', partition: 0 }];

describe('awaitLeadership (the Kafka listener)', () => {
  it('waits for a created partition before its first election, on a broker among its replicas', async () => {
    const { ctx, lead } = broker({ leader: -1, leaderEpoch: -1, replicas: [1, 2] });
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
      const { ctx } = broker(partition);
      // Never leads: an answer before the 5 s grace is the answer "at once" (no speed is asserted).
      const answered = await Promise.race([
        awaitLeadership(ctx, wanted, new AbortController().signal).then(() => 'answered'),
        new Promise((resolve) => setTimeout(resolve, 4000, 'waited')),
      ]);
      expect(answered, JSON.stringify(partition)).toBe('answered');
    }
  });
});
