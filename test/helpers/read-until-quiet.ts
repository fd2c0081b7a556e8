import type { ConsumedMessage, ConsumerOptions, Samsa } from '@samsa/client';

export interface ReadUntilQuietOptions {
  readonly isolationLevel: NonNullable<ConsumerOptions['isolationLevel']>;
  /** Keep reading at least until this many records were seen (then until quiet). */
  readonly expectedAtLeast: number;
  /** Stop once nothing new arrived for this long (after expectedAtLeast). */
  readonly quietMs: number;
  /** Stop regardless after this long: the caller's checks then say what is missing. */
  readonly giveUpMs: number;
}

/**
 * Every record of `topic` (all partitions, from the earliest offset) a consumer sees, read until at
 * least `expectedAtLeast` arrived and then nothing for `quietMs`: for checkers that must also catch
 * records beyond what they expect (duplicates, aborted reads).
 */
export async function readUntilQuiet(
  samsa: Samsa,
  topic: string,
  options: ReadUntilQuietOptions,
): Promise<ConsumedMessage[]> {
  const { isolationLevel, expectedAtLeast, quietMs, giveUpMs } = options;
  const reader = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 200, isolationLevel });
  await reader.assign([{ topic }]);
  const seen: ConsumedMessage[] = [];
  let quietSince = Date.now();
  const reading = new AbortController();
  const giveUp = setTimeout(() => reading.abort(), giveUpMs);
  const watch = setInterval(() => {
    if (seen.length >= expectedAtLeast && Date.now() - quietSince > quietMs) reading.abort();
  }, 200);
  try {
    for await (const batch of reader.batches({ signal: reading.signal })) {
      if (batch.messages.length > 0) quietSince = Date.now();
      seen.push(...batch.messages);
    }
  } catch (err) {
    if (!reading.signal.aborted) throw err;
  } finally {
    clearTimeout(giveUp);
    clearInterval(watch);
    await reader.close();
  }
  return seen;
}
