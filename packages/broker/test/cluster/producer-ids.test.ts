import { describe, expect, it } from 'vitest';
import {
  decodeProducerIdBlock,
  encodeProducerIdBlock,
  nextProducerIdBlock,
  type ProducerIdBlock,
  ProducerIdManager,
} from '../../src/cluster/producer-ids.js';

describe('producer id blocks', () => {
  it("reads and writes Kafka's /latest_producer_id_block JSON", () => {
    const block = { brokerId: 2, start: 1000, end: 1999 };
    expect(JSON.parse(encodeProducerIdBlock(block))).toEqual({
      version: 1,
      broker: 2,
      block_start: '1000',
      block_end: '1999',
    });
    expect(decodeProducerIdBlock(Buffer.from(encodeProducerIdBlock(block)))).toEqual(block);
    expect(() => decodeProducerIdBlock('{"block_start":"5","block_end":"1"}')).toThrow(/bad block/);
    expect(() => decodeProducerIdBlock('nope')).toThrow(/not JSON/);
  });

  it('hands out the block after the last one taken, by whichever broker', () => {
    expect(nextProducerIdBlock(undefined, 1)).toEqual({ brokerId: 1, start: 0, end: 999 });
    expect(nextProducerIdBlock({ brokerId: 3, start: 0, end: 999 }, 1)).toEqual({
      brokerId: 1,
      start: 1000,
      end: 1999,
    });
  });

  it('serves ids from its block and shares one allocation among concurrent callers', async () => {
    let latest: ProducerIdBlock | undefined;
    let allocations = 0;
    const manager = new ProducerIdManager(async () => {
      allocations++;
      await Promise.resolve();
      latest = nextProducerIdBlock(latest, 1, 3);
      return latest;
    });
    const ids = await Promise.all(Array.from({ length: 7 }, () => manager.nextId()));
    expect(new Set(ids).size).toBe(7);
    expect(ids.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(allocations).toBe(3);
  });
});
