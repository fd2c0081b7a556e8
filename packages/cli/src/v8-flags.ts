import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags every samsa process applies to itself at startup, the way Kafka's start scripts pass GC
 * settings to the JVM (KAFKA_JVM_PERFORMANCE_OPTS).
 *
 * `--heap-growing-percent=300` lets the old generation grow to four times what survived the last
 * full collection before the next one starts. A broker keeps little on the heap (about 17 MB) while
 * its buffers churn; with V8's own choice (a factor near 1.1 for a heap that small) it started a full
 * collection every 60 to 150 ms, about a third of its CPU time, and its pauses were the largest part
 * of acks=all tail latency. With this flag it runs a few per 10 s. The heap limit
 * (--max-old-space-size) still caps growth.
 *
 * `--semi-space-growth-factor=1` keeps the young generation at its initial size. V8 also starts a
 * full collection whenever more than 64 MB of Buffer memory was allocated since the lowest point it
 * saw, and only a collection frees Buffers. A broker at 380k records/s allocates about seven times as
 * many bytes of Buffers as of heap objects, so with a young generation grown to 8 MB each 500 ms
 * between scavenges took Buffer memory up by about 55 MB: a run crossed the 64 MB mark as soon as one
 * scavenge came a little late, and then had up to 29 full collections (5–17 ms pauses) instead of
 * none. With the initial 1 MB semi-space a scavenge (0.3–0.5 ms) comes every 60 ms or so and the
 * Buffers in between stay far below the mark.
 */
export const DEFAULT_V8_FLAGS = '--heap-growing-percent=300 --semi-space-growth-factor=1';

/**
 * Applies SAMSA_V8_FLAGS (default DEFAULT_V8_FLAGS; empty for none). Only flags V8 reads while
 * running take effect this way (GC heuristics); heap sizes belong on the node command line or in
 * NODE_OPTIONS (--max-old-space-size). Returns the flags applied.
 */
export function applyV8Flags(
  env: NodeJS.ProcessEnv = process.env,
  set: (flag: string) => void = setFlagsFromString,
): string[] {
  const flags = (env.SAMSA_V8_FLAGS ?? DEFAULT_V8_FLAGS).split(/\s+/).filter((f) => f.length > 0);
  const bad = flags.find((f) => !/^--[a-z0-9][a-z0-9_-]*(=\S+)?$/i.test(f));
  if (bad !== undefined) throw new Error(`SAMSA_V8_FLAGS: "${bad}" is not a V8 flag (--name or --name=value)`);
  for (const flag of flags) set(flag);
  return flags;
}
