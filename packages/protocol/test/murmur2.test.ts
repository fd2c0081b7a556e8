import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SamsaError, kafkaPartitionForKey, murmur2, toPositive } from '@samsa/protocol';

interface Murmur2Fixture {
  partitionCounts: number[];
  cases: { key: string; murmur2: number; partitions: number[] }[];
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/murmur2.json', import.meta.url), 'utf8')) as Murmur2Fixture;

describe('murmur2', () => {
  it("matches the vectors of Kafka's own UtilsTest.testMurmur2", () => {
    const kafkaVectors: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of kafkaVectors) expect(murmur2(Buffer.from(key))).toBe(hash);
  });

  it("matches KafkaJS's Java-compatible murmur2 and partition choice on every fixture key", () => {
    expect(fixture.cases.length).toBeGreaterThan(40);
    for (const c of fixture.cases) {
      const key = Buffer.from(c.key, 'hex');
      expect(murmur2(key), c.key).toBe(c.murmur2);
      expect(
        fixture.partitionCounts.map((n) => kafkaPartitionForKey(key, n)),
        c.key,
      ).toEqual(c.partitions);
    }
  });

  it('toPositive clears the sign bit like Java, unlike Math.abs', () => {
    expect(toPositive(-1)).toBe(0x7fffffff);
    expect(toPositive(-2147483648)).toBe(0);
    expect(toPositive(5)).toBe(5);
  });

  it('rejects a partition count below 1 with a typed error', () => {
    expect(() => kafkaPartitionForKey(Buffer.from('k'), 0)).toThrow(SamsaError);
    expect(() => kafkaPartitionForKey(Buffer.from('k'), 2.5)).toThrow(SamsaError);
  });
});
