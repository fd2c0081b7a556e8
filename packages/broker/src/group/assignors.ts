import { fromKeys, type TopicPartitions, toKeys, tpKey } from './partitions.js';

/** What an assignor sees: the members (sorted by id) with the existing topics they subscribe to. */
export interface AssignmentInput {
  readonly members: readonly { readonly memberId: string; readonly topics: readonly string[] }[];
  /** Partition count of every subscribed topic. */
  readonly partitionCounts: ReadonlyMap<string, number>;
  /** The previous target assignment, for stickiness. */
  readonly previous: ReadonlyMap<string, TopicPartitions>;
}

export type Assignor = (input: AssignmentInput) => Map<string, TopicPartitions>;

export const ASSIGNOR_NAMES = ['uniform', 'range'] as const;
export type AssignorName = (typeof ASSIGNOR_NAMES)[number];

export function assignorFor(name: AssignorName): Assignor {
  return name === 'range' ? rangeAssignor : uniformAssignor;
}

/**
 * Range: per topic, the members subscribed to it (in id order) get contiguous ranges, the first
 * `partitions % members` one partition more. Not sticky; chosen for its predictability.
 */
export function rangeAssignor(input: AssignmentInput): Map<string, TopicPartitions> {
  const keys = new Map<string, string[]>(input.members.map((m) => [m.memberId, []]));
  for (const [topic, partitions] of [...input.partitionCounts].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const members = input.members.filter((m) => m.topics.includes(topic));
    if (members.length === 0) continue;
    const base = Math.floor(partitions / members.length);
    const extra = partitions % members.length;
    let next = 0;
    members.forEach((m, i) => {
      const n = base + (i < extra ? 1 : 0);
      for (let p = next; p < next + n; p++) keys.get(m.memberId)!.push(tpKey(topic, p));
      next += n;
    });
  }
  return new Map([...keys].map(([id, ks]) => [id, fromKeys(ks)]));
}

/**
 * Uniform: partition counts as even as the subscriptions allow, moving as few partitions as it can.
 * Each member keeps the previous partitions it may still have; the free ones go to the least loaded
 * eligible member; then, while some member holds two more than a member eligible for one of its
 * partitions, one such partition moves (each move lowers the sum of squared counts, so this ends).
 */
export function uniformAssignor(input: AssignmentInput): Map<string, TopicPartitions> {
  const eligible = new Map(input.members.map((m) => [m.memberId, new Set(m.topics)]));
  const owned = new Map<string, Set<string>>(input.members.map((m) => [m.memberId, new Set()]));
  const owner = new Map<string, string>();
  const exists = (topic: string, p: number) => p < (input.partitionCounts.get(topic) ?? 0);
  for (const m of input.members) {
    for (const key of toKeys(input.previous.get(m.memberId) ?? {})) {
      const topic = key.slice(0, key.lastIndexOf('\u0000'));
      const p = Number(key.slice(key.lastIndexOf('\u0000') + 1));
      if (owner.has(key) || !exists(topic, p) || !eligible.get(m.memberId)!.has(topic)) continue;
      owner.set(key, m.memberId);
      owned.get(m.memberId)!.add(key);
    }
  }
  const leastLoaded = (topic: string): string | undefined => {
    let best: string | undefined;
    for (const m of input.members)
      if (
        eligible.get(m.memberId)!.has(topic) &&
        (best === undefined || owned.get(m.memberId)!.size < owned.get(best)!.size)
      )
        best = m.memberId;
    return best;
  };
  for (const [topic, partitions] of [...input.partitionCounts].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (let p = 0; p < partitions; p++) {
      const key = tpKey(topic, p);
      if (owner.has(key)) continue;
      const to = leastLoaded(topic);
      if (to === undefined) continue;
      owner.set(key, to);
      owned.get(to)!.add(key);
    }
  }
  balance(input, eligible, owned);
  return new Map([...owned].map(([id, keys]) => [id, fromKeys(keys)]));
}

function balance(
  input: AssignmentInput,
  eligible: ReadonlyMap<string, ReadonlySet<string>>,
  owned: Map<string, Set<string>>,
): void {
  const byLoad = () => [...input.members].sort((a, b) => owned.get(b.memberId)!.size - owned.get(a.memberId)!.size);
  for (;;) {
    let moved = false;
    const members = byLoad();
    search: for (const from of members) {
      for (const to of [...members].reverse()) {
        if (owned.get(from.memberId)!.size - owned.get(to.memberId)!.size <= 1) break;
        const toTopics = eligible.get(to.memberId)!;
        const candidates = [...owned.get(from.memberId)!].sort().reverse();
        const key = candidates.find((k) => toTopics.has(k.slice(0, k.lastIndexOf('\u0000'))));
        if (key === undefined) continue;
        owned.get(from.memberId)!.delete(key);
        owned.get(to.memberId)!.add(key);
        moved = true;
        break search;
      }
    }
    if (!moved) return;
  }
}
