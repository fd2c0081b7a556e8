import { describe, expect, it } from 'vitest';
import { ReplicationThrottle, listsReplica } from '../../src/replication/throttle.js';

describe('replication throttle (leader side)', () => {
  it("reads Kafka's throttled-replicas lists", () => {
    expect(listsReplica('0:1,0:2, 1:3', 1, 3)).toBe(true);
    expect(listsReplica('0:1,0:2', 1, 1)).toBe(false);
    expect(listsReplica('*', 7, 9)).toBe(true);
    expect(listsReplica('', 0, 1)).toBe(false);
    expect(listsReplica(undefined, 0, 1)).toBe(false);
  });

  it('lets through the rate per second per topic, holding at most a second of it, none after idle time', () => {
    const t = new ReplicationThrottle();
    expect(t.allowance('a', 1000, 0)).toBe(0); // starts empty
    expect(t.refillMs('a', 0)).toBe(1); // until it holds more than nothing
    expect(t.allowance('a', 1000, 500)).toBe(500);
    t.consumed('a', 1500); // one batch past what was left: paid back before the next
    expect(t.allowance('a', 1000, 500)).toBe(-1000);
    expect(t.refillMs('a', 500)).toBe(1001);
    expect(t.allowance('a', 1000, 1600)).toBeCloseTo(100);
    expect(t.allowance('a', 1000, 3000)).toBe(1000); // at most a second's worth
    expect(t.allowance('a', 1000, 60_000)).toBe(0); // unused for a while: starts empty, no burst
    expect(t.allowance('b', 1000, 60_000)).toBe(0); // topics have their own buckets
    // Over a long run, what is sent stays at the rate.
    let sent = 0;
    for (let ms = 60_000; ms <= 70_000; ms += 10) {
      const left = t.allowance('a', 1000, ms);
      if (left > 0) {
        t.consumed('a', 300);
        sent += 300;
      }
    }
    expect(sent).toBeLessThanOrEqual(10 * 1000 + 300);
    expect(sent).toBeGreaterThan(9 * 1000);
  });
});
