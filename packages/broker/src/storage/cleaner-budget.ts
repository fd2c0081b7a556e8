// tidy: pure
/**
 * The log cleaner's I/O budget when log.cleaner.io.max.bytes.per.second is left at Samsa's default.
 *
 * The default (30 MiB/s, where Kafka's is unlimited) keeps a cleaning pass from taking a core away
 * from the producers on a small machine, but it also bounds how fast compacted topics may be written:
 * past about 10 MB/s per broker the cleaner fell behind and a partition grew without bound
 * (docs/performance-log.md, "The cleaner's default I/O budget"). A user who never chose the budget
 * should not pay for it in disk space, so the default yields when the cleaner falls behind:
 *
 * - The cleaner is behind when a pass starts right after the previous one (no loop found the cleaner
 *   without work in between) and the backlog, the dirty bytes of every log that needs cleaning, is
 *   larger than at the previous pass's start: it is cleaning back to back and losing ground. The
 *   budget then doubles, for the pass starting now and those after it, up to
 *   ADAPTIVE_MAX_DOUBLINGS doublings, and the rise after those is to unlimited (Kafka's default).
 * - Back to back with a backlog that does not grow (it is catching up) the budget stays where it is.
 * - Once the cleaner has nothing to clean (no log needs cleaning, none is being cleaned) it is keeping
 *   up again: the budget falls back to the configured value.
 * - A budget the user set (any value, the default's included) is a hard cap, as Kafka honours it: it
 *   never changes.
 *
 * A reducer over the cleaner's events, with no clock: the driver (log-cleaner.ts) feeds it.
 */

/** Rises (each doubling the budget) before the next rise goes to unlimited: 30 → 60 → 120 → 240 MiB/s → ∞. */
export const ADAPTIVE_MAX_DOUBLINGS = 3;

export interface CleanerBudgetConfig {
  /** log.cleaner.io.max.bytes.per.second. */
  readonly configuredBytesPerSecond: number;
  /** Whether the user set it (a hard cap) rather than leaving the default (which adapts). */
  readonly explicit: boolean;
}

export interface CleanerBudgetState {
  /** The budget of the passes from now on; Infinity is unlimited. */
  readonly bytesPerSecond: number;
  /** Rises since the budget was last the configured one. */
  readonly rises: number;
  /**
   * The backlog at the start of the previous pass, if the cleaner has had work ever since (a pass
   * starting now follows it back to back); undefined after the cleaner had nothing to do.
   */
  readonly previousBacklogBytes: number | undefined;
}

export type CleanerBudgetEvent =
  /** A pass is starting; `backlogBytes`: the dirty bytes of every log that needs cleaning. */
  | { readonly kind: 'pass'; readonly backlogBytes: number }
  /** A cleaner loop found no log that needs cleaning, and no pass is running. */
  | { readonly kind: 'idle' };

export type CleanerBudgetChange = 'rise' | 'fall-back' | undefined;

export function initialCleanerBudget(config: CleanerBudgetConfig): CleanerBudgetState {
  return { bytesPerSecond: config.configuredBytesPerSecond, rises: 0, previousBacklogBytes: undefined };
}

/** Whether a budget is in effect unlimited (the throttle never waits). */
export function isUnlimitedBudget(bytesPerSecond: number): boolean {
  return !Number.isFinite(bytesPerSecond) || bytesPerSecond >= Number.MAX_SAFE_INTEGER;
}

/** The state after `event`, and whether the budget rose or fell back to the configured value. */
export function nextCleanerBudget(
  config: CleanerBudgetConfig,
  state: CleanerBudgetState,
  event: CleanerBudgetEvent,
): { readonly state: CleanerBudgetState; readonly change: CleanerBudgetChange } {
  const configured = config.configuredBytesPerSecond;
  if (config.explicit || isUnlimitedBudget(configured)) {
    return { state: initialCleanerBudget(config), change: undefined };
  }
  if (event.kind === 'idle') {
    const raised = state.rises > 0;
    return { state: initialCleanerBudget(config), change: raised ? 'fall-back' : undefined };
  }
  const previous = state.previousBacklogBytes;
  const losingGround = previous !== undefined && event.backlogBytes > previous;
  if (!losingGround || isUnlimitedBudget(state.bytesPerSecond))
    return { state: { ...state, previousBacklogBytes: event.backlogBytes }, change: undefined };
  const rises = state.rises + 1;
  const bytesPerSecond = rises > ADAPTIVE_MAX_DOUBLINGS ? Number.POSITIVE_INFINITY : configured * 2 ** rises;
  return { state: { bytesPerSecond, rises, previousBacklogBytes: event.backlogBytes }, change: 'rise' };
}
