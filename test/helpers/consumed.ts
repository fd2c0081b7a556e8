import type { ConsumedMessage } from '@samsa/client';

/** The next `n` messages of a consumer's iterator as `offset:value` (fewer if it ends first). */
export async function take(iterator: AsyncIterator<ConsumedMessage>, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) {
    const next = await iterator.next();
    if (next.done) break;
    out.push(`${next.value.offset}:${next.value.value?.toString() ?? ''}`);
  }
  return out;
}

/** `take`'s lines for `count` records from offset `from` whose values are `prefix` and their index. */
export const range = (from: number, prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `${from + i}:${prefix}${i}`);

/** Messages whose values are `prefix` and their index. */
export const values = (prefix: string, count: number): { value: string }[] =>
  Array.from({ length: count }, (_, i) => ({ value: `${prefix}${i}` }));
