import { ErrorCodes } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import { assignReplicas, validateNewTopic, validateTopicName } from '../../src/controller/assignment.js';

describe('validateTopicName', () => {
  it.each(['a', 'orders', 'my.topic_v2-x', 'x'.repeat(249), '...'])('accepts %j', (name) => {
    expect(validateTopicName(name)).toBeUndefined();
  });
  it.each(['', '.', '..', 'x'.repeat(250), 'has space', 'slash/name', 'ümlaut', 'a:b'])(
    'rejects %j as InvalidTopic',
    (name) => {
      expect(validateTopicName(name)?.error).toBe(ErrorCodes.INVALID_TOPIC_EXCEPTION);
    },
  );
});

describe('validateNewTopic', () => {
  it('checks partitions and replication factor against live brokers', () => {
    expect(validateNewTopic('t', 0, 1, 3)?.error).toBe(ErrorCodes.INVALID_PARTITIONS);
    expect(validateNewTopic('t', 1.5, 1, 3)?.error).toBe(ErrorCodes.INVALID_PARTITIONS);
    expect(validateNewTopic('t', 5_001, 1, 3)?.error).toBe(ErrorCodes.INVALID_PARTITIONS);
    expect(validateNewTopic('t', 1, 0, 3)?.error).toBe(ErrorCodes.INVALID_REPLICATION_FACTOR);
    const tooMany = validateNewTopic('t', 1, 4, 3);
    expect(tooMany?.error).toBe(ErrorCodes.INVALID_REPLICATION_FACTOR);
    expect(tooMany?.message).toMatch(/larger than the number of live brokers \(3\)/);
    expect(validateNewTopic('t', 3, 3, 3)).toBeUndefined();
  });
});

describe('assignReplicas', () => {
  it('is deterministic for a seed and independent of broker order', () => {
    expect(assignReplicas([3, 1, 2], 6, 2, 7)).toEqual(assignReplicas([1, 2, 3], 6, 2, 7));
  });

  it('matches the round-robin layout with shifted followers', () => {
    // seed 0: start index 0, shift 0 -> followers one after the leader, then two after once p >= n.
    expect(assignReplicas([0, 1, 2, 3, 4], 10, 3, 0)).toEqual([
      [0, 1, 2],
      [1, 2, 3],
      [2, 3, 4],
      [3, 4, 0],
      [4, 0, 1],
      [0, 2, 3],
      [1, 3, 4],
      [2, 4, 0],
      [3, 0, 1],
      [4, 1, 2],
    ]);
  });

  it('never repeats a broker within a partition and spreads leaders and replicas evenly', () => {
    for (let seed = 0; seed < 50; seed++) {
      for (const n of [1, 2, 3, 5, 6]) {
        const brokers = Array.from({ length: n }, (_, i) => 10 + i);
        for (let rf = 1; rf <= n; rf++) {
          const parts = n * 4;
          const a = assignReplicas(brokers, parts, rf, seed);
          const leaders = new Map<number, number>();
          const replicas = new Map<number, number>();
          for (const r of a) {
            expect(new Set(r).size).toBe(rf);
            leaders.set(r[0]!, (leaders.get(r[0]!) ?? 0) + 1);
            for (const b of r) replicas.set(b, (replicas.get(b) ?? 0) + 1);
          }
          for (const b of brokers) {
            expect(leaders.get(b)).toBe(4);
            expect(replicas.get(b)).toBe(4 * rf);
          }
        }
      }
    }
  });

  it('varies the start broker with the seed', () => {
    const firstLeaders = new Set(Array.from({ length: 20 }, (_, seed) => assignReplicas([1, 2, 3], 1, 1, seed)[0]![0]));
    expect(firstLeaders).toEqual(new Set([1, 2, 3]));
  });
});
