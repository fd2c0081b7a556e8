import { describe, expect, it } from 'vitest';
import { formatTable, newOffset, parseTopicSpec } from '../src/commands/consumer-groups.js';
import { CliError } from '../src/errors.js';

describe('samsa consumer-groups', () => {
  it('reads --topic as a topic, or a topic and its partitions', () => {
    expect(parseTopicSpec('orders')).toEqual({ topic: 'orders', partitions: undefined });
    expect(parseTopicSpec('orders:0,2')).toEqual({ topic: 'orders', partitions: [0, 2] });
    for (const bad of ['', 'orders:', 'orders:x', ':1', 'orders:1,,2'])
      expect(() => parseTopicSpec(bad), bad).toThrow(CliError);
  });

  it('computes reset targets as Kafka does: shifts from the committed offset, times past the end go to the end', () => {
    const range = { low: 10, high: 50 };
    expect(newOffset({ kind: 'earliest' }, range, 30, -1)).toBe(10);
    expect(newOffset({ kind: 'latest' }, range, 30, -1)).toBe(50);
    expect(newOffset({ kind: 'offset', offset: 42 }, range, 30, -1)).toBe(42);
    expect(newOffset({ kind: 'shift', by: -5 }, range, 30, -1)).toBe(25);
    expect(newOffset({ kind: 'shift', by: 3 }, range, undefined, -1)).toBe(13);
    expect(newOffset({ kind: 'datetime', timestampMs: 0 }, range, 30, 17)).toBe(17);
    expect(newOffset({ kind: 'datetime', timestampMs: 0 }, range, 30, -1)).toBe(50);
  });

  it('prints aligned columns, the last one unpadded', () => {
    expect(
      formatTable(
        ['GROUP', 'LAG'],
        [
          ['g', '5'],
          ['longer-group', '12'],
        ],
      ),
    ).toBe('GROUP         LAG\ng             5\nlonger-group  12\n');
  });
});
