import { ErrorCodes, SamsaError } from './errors.js';

const MURMUR2_SEED = 0x9747b28c;
const MURMUR2_M = 0x5bd1e995;
const MURMUR2_R = 24;

/**
 * MurmurHash2 (32-bit) exactly as Kafka's Java `Utils.murmur2`: the hash Kafka's default
 * partitioner applies to key bytes. Java's int arithmetic wraps at 32 bits; Math.imul and `| 0`
 * give the same results, so keys land on the partitions Java clients choose.
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = MURMUR2_SEED ^ length;
  const wholeWords = length >>> 2;
  for (let i = 0; i < wholeWords; i++) {
    const at = i * 4;
    let k = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24);
    k = Math.imul(k, MURMUR2_M);
    k ^= k >>> MURMUR2_R;
    k = Math.imul(k, MURMUR2_M);
    h = Math.imul(h, MURMUR2_M) ^ k;
  }
  // Java mixes the 1-3 tail bytes with a falling-through switch; the same steps in order:
  const tail = length & ~3;
  const tailBytes = length & 3;
  if (tailBytes === 3) h ^= data[tail + 2]! << 16;
  if (tailBytes >= 2) h ^= data[tail + 1]! << 8;
  if (tailBytes >= 1) h = Math.imul(h ^ data[tail]!, MURMUR2_M);
  h ^= h >>> 13;
  h = Math.imul(h, MURMUR2_M);
  h ^= h >>> 15;
  return h | 0;
}

/** Java's `Utils.toPositive`: clears the sign bit (not Math.abs, which differs for negatives). */
export function toPositive(value: number): number {
  return value & 0x7fff_ffff;
}

/** The partition Kafka's default partitioner picks for a non-null key: toPositive(murmur2(key)) % numPartitions. */
export function kafkaPartitionForKey(key: Uint8Array, numPartitions: number): number {
  if (!Number.isInteger(numPartitions) || numPartitions < 1 || numPartitions > 0x7fff_ffff) {
    throw new SamsaError(ErrorCodes.INVALID_PARTITIONS, `numPartitions ${numPartitions} must be a positive int32`);
  }
  return toPositive(murmur2(key)) % numPartitions;
}
