import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags every samsa process applies to itself at startup, the way Kafka's start scripts pass GC
 * settings to the JVM (KAFKA_JVM_PERFORMANCE_OPTS).
 *
 * `--heap-growing-percent=300`: a broker's heap is small (about 17 MB) while its buffers churn, and
 * V8's own growing factor for a heap that small meant a full collection every 60-150 ms.
 * `--semi-space-growth-factor=1`: V8 also collects fully after each 64 MB of Buffers allocated, and a
 * young generation grown large let the Buffers between two scavenges come close to that mark.
 * `--no-parallel-scavenge`: a scavenge's main thread does the work alone instead of sharing it with V8's
 * helper threads and waiting for them to finish. On a machine whose cores are shared with other work,
 * a helper thread that has taken its share may wait for a CPU, and the main thread waits with it: at a
 * load average of 10-13, 21 of 77 scavenge pauses of 4 ms or more in a 10k records/s run had the main
 * thread blocked for most of the pause, and they were the longest (40-147 ms, against about 1 ms of
 * work). Set at startup it takes effect (V8 reads it at every scavenge); `--single-threaded-gc`, which
 * only implies it on the command line, does not.
 * The measurements behind these: docs/performance-log.md (the first, second and thirteenth looks).
 */
export const DEFAULT_V8_FLAGS = '--heap-growing-percent=300 --semi-space-growth-factor=1 --no-parallel-scavenge';

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
