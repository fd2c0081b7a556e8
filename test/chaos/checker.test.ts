import { describe, expect, it } from 'vitest';
import { check, type Ack, type Stored } from './checker.js';

const ack = (producer: number, seq: number, partition: number, offset: number): Ack => ({
  producer,
  seq,
  partition,
  offset,
  value: `p${producer}-${seq}`,
});
const stored = (partition: number, offset: number, value: string): Stored => ({ partition, offset, value });

describe('chaos checker', () => {
  it('passes a clean history and counts duplicates', () => {
    const acks = [ack(1, 0, 0, 0), ack(1, 1, 0, 2)];
    const v = check(3, acks, [stored(0, 0, 'p1-0'), stored(0, 1, 'p1-0'), stored(0, 2, 'p1-1')]);
    expect(v).toMatchObject({ attempted: 3, acknowledged: 2, lost: [], duplicated: 1, holes: [], reordered: [] });
  });

  it('finds a lost write, an overwritten offset, a hole and a reordering', () => {
    const acks = [ack(1, 0, 0, 0), ack(1, 1, 0, 1), ack(2, 0, 1, 5), ack(2, 1, 1, 4)];
    const v = check(4, acks, [
      stored(0, 0, 'p1-0'),
      stored(0, 1, 'someone else'),
      stored(1, 2, 'x'),
      stored(1, 4, 'p2-1'),
      stored(1, 5, 'p2-0'),
    ]);
    expect(v.lost.map((a) => a.value)).toEqual(['p1-1']);
    expect(v.holes).toEqual([{ partition: 1, offset: 3 }]);
    expect(v.reordered).toEqual([{ producer: 2, partition: 1, seq: 1 }]);
  });
});
