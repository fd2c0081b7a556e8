import type { TopicDescription } from '@samsa/client';
import { describe, expect, it } from 'vitest';
import { formatPlan, parsePlan, proposePlan, verifyLines } from '../src/commands/reassign.js';

const partition = (
  id: number,
  replicas: number[],
  more: Partial<TopicDescription['partitions'][number]> = {},
): TopicDescription['partitions'][number] => ({
  partition: id,
  leader: replicas[0]!,
  leaderEpoch: 0,
  replicas,
  isr: replicas,
  offlineReplicas: [],
  addingReplicas: [],
  removingReplicas: [],
  errorCode: 0,
  ...more,
});

const topic = (name: string, partitions: TopicDescription['partitions']): TopicDescription => ({
  name,
  partitions,
  configs: {},
});

describe('samsa reassign-partitions', () => {
  it('--generate keeps what can stay and spreads the rest over the least-loaded brokers', () => {
    const topics = [
      topic('t', [partition(0, [1, 2, 3]), partition(1, [2, 3, 1]), partition(2, [3, 1, 2]), partition(3, [1, 2, 3])]),
    ];
    // Decommission broker 1 of 1..4: only its replicas move, onto broker 4 (the emptiest); the
    // partitions it was preferred leader of get the brokers preferred by the fewest.
    const plan = proposePlan(topics, [2, 3, 4]);
    expect(plan.partitions).toEqual([
      { topic: 't', partition: 0, replicas: [4, 2, 3] },
      { topic: 't', partition: 1, replicas: [2, 3, 4] },
      { topic: 't', partition: 2, replicas: [3, 2, 4] },
      { topic: 't', partition: 3, replicas: [2, 3, 4] },
    ]);
    // Growing onto new brokers spreads the slots that must move.
    const spread = proposePlan([topic('u', [partition(0, [1]), partition(1, [1]), partition(2, [1])])], [2, 3, 4]);
    expect(spread.partitions.map((p) => p.replicas)).toEqual([[2], [3], [4]]);
    // A move in progress counts by its target; too few brokers is a usage error.
    const moving = partition(0, [2, 3, 4, 1], { addingReplicas: [4], removingReplicas: [1] });
    expect(proposePlan([topic('v', [moving])], [2, 3, 4]).partitions[0]!.replicas).toEqual([2, 3, 4]);
    expect(() => proposePlan([topic('t', [partition(0, [1, 2, 3])])], [1, 2])).toThrow(/only 2 brokers/);
  });

  it("reads and writes Kafka's plan format, refusing malformed plans", () => {
    const text = formatPlan([{ topic: 't', partition: 0, replicas: [2, 3] }]);
    expect(JSON.parse(text)).toEqual({
      version: 1,
      partitions: [{ topic: 't', partition: 0, replicas: [2, 3], log_dirs: ['any', 'any'] }],
    });
    expect(parsePlan(text, 'plan.json').partitions[0]!.replicas).toEqual([2, 3]);
    expect(() => parsePlan('{', 'plan.json')).toThrow(/not JSON/);
    expect(() => parsePlan('{"partitions":[{"topic":"t"}]}', 'plan.json')).toThrow(/needs topic, partition/);
    const twice =
      '{"partitions":[{"topic":"t","partition":0,"replicas":[1]},{"topic":"t","partition":0,"replicas":[2]}]}';
    expect(() => parsePlan(twice, 'plan.json')).toThrow(/listed twice/);
  });

  it('--verify reports each partition: in progress, completed, or elsewhere', () => {
    const plan = parsePlan(
      formatPlan([
        { topic: 't', partition: 0, replicas: [2, 3, 4] },
        { topic: 't', partition: 1, replicas: [2, 3, 4] },
        { topic: 't', partition: 2, replicas: [2, 3, 4] },
      ]),
      'plan',
    );
    const moving = partition(0, [2, 3, 4, 1], { isr: [1, 2, 3], addingReplicas: [4], removingReplicas: [1] });
    const { lines, done } = verifyLines([topic('t', [moving, partition(1, [2, 3, 4]), partition(2, [1, 2, 3])])], plan);
    expect(done).toBe(false);
    expect(lines).toEqual([
      'Reassignment of partition t-0 is still in progress: adding [4] (0 in sync), removing [1].',
      'Reassignment of partition t-1 is completed.',
      'There is no active reassignment of partition t-2, but replica set is 1,2,3 rather than 2,3,4.',
    ]);
  });
});
