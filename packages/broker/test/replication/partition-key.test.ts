import { describe, expect, it } from 'vitest';
import { partitionKey } from '../../src/replication/index.js';

describe('partitionKey', () => {
  it('names each partition of each topic apart, the same each time it is asked', () => {
    expect(partitionKey('orders', 3)).toBe('orders\u00003');
    expect(partitionKey('orders', 3)).toBe(partitionKey('orders', 3));
    expect(partitionKey('orders', 30)).not.toBe(partitionKey('orders3', 0));
    expect(partitionKey('orders', 0)).not.toBe(partitionKey('orders', 1));
  });

  it('gives a partition number no topic has, or past the topics it keeps, the same key', () => {
    expect(partitionKey('t', 2 ** 31 - 1)).toBe('t\u00002147483647');
    expect(partitionKey('t', -1)).toBe('t\u0000-1');
    for (let i = 0; i < 10_050; i++) expect(partitionKey(`topic-${i}`, i % 7)).toBe(`topic-${i}\u0000${i % 7}`);
    expect(partitionKey('topic-1', 1)).toBe('topic-1\u00001');
  });
});
