import { describe, expect, it } from 'vitest';
import {
  ADAPTIVE_MAX_DOUBLINGS,
  type CleanerBudgetConfig,
  type CleanerBudgetEvent,
  initialCleanerBudget,
  nextCleanerBudget,
} from '@samsa/broker/internal';

const MiB = 1024 * 1024;
const byDefault: CleanerBudgetConfig = { configuredBytesPerSecond: 30 * MiB, explicit: false };
const pass = (backlogMB: number): CleanerBudgetEvent => ({ kind: 'pass', backlogBytes: backlogMB * MiB });
const idle: CleanerBudgetEvent = { kind: 'idle' };

/** The budget (MiB/s; Infinity: unlimited) of each pass, and the changes, over `events`. */
function run(config: CleanerBudgetConfig, events: readonly CleanerBudgetEvent[]) {
  let state = initialCleanerBudget(config);
  const budgets: number[] = [];
  const changes: string[] = [];
  for (const event of events) {
    const next = nextCleanerBudget(config, state, event);
    state = next.state;
    if (next.change !== undefined) changes.push(next.change);
    if (event.kind === 'pass') budgets.push(state.bytesPerSecond / MiB);
  }
  return { budgets, changes, state };
}

describe("the cleaner's default I/O budget", () => {
  it('doubles while back-to-back passes find more dirty bytes, up to unlimited', () => {
    const { budgets, changes } = run(byDefault, [pass(16), pass(32), pass(64), pass(128), pass(256), pass(512)]);
    expect(ADAPTIVE_MAX_DOUBLINGS).toBe(3);
    expect(budgets).toEqual([30, 60, 120, 240, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY]);
    expect(changes).toEqual(['rise', 'rise', 'rise', 'rise']);
  });

  it('holds a raised budget while the cleaner catches up, and falls back once it is idle', () => {
    const { budgets, changes, state } = run(byDefault, [pass(16), pass(48), pass(40), pass(20), pass(20), idle]);
    expect(budgets).toEqual([30, 60, 60, 60, 60]);
    expect(changes).toEqual(['rise', 'fall-back']);
    expect(state).toEqual(initialCleanerBudget(byDefault));
  });

  it('does not rise for passes that follow an idle cleaner, however dirty the log', () => {
    // A cleaner that keeps up: each pass starts after an idle spell (the dirty ratio had to build up again).
    const { budgets, changes } = run(byDefault, [pass(16), idle, pass(32), idle, pass(900), idle]);
    expect(budgets).toEqual([30, 30, 30]);
    expect(changes).toEqual([]);
  });

  it('does not rise while the backlog stays the same (segment by segment, keeping pace)', () => {
    const { budgets } = run(byDefault, [pass(16), pass(16), pass(16), pass(16)]);
    expect(budgets).toEqual([30, 30, 30, 30]);
  });

  it('says nothing when an idle cleaner was never raised', () => {
    expect(run(byDefault, [idle, idle, pass(10), idle]).changes).toEqual([]);
  });

  it('rises again after a fall-back, from the configured value', () => {
    const { budgets } = run(byDefault, [pass(16), pass(32), pass(64), idle, pass(16), pass(32)]);
    expect(budgets).toEqual([30, 60, 120, 30, 60]);
  });

  it('keeps a budget the user set as a hard cap, whatever the backlog', () => {
    const explicit = { configuredBytesPerSecond: 30 * MiB, explicit: true };
    const { budgets, changes } = run(explicit, [pass(16), pass(32), pass(64), pass(128), pass(256), idle]);
    expect(budgets).toEqual([30, 30, 30, 30, 30]);
    expect(changes).toEqual([]);
  });

  it('leaves an unlimited budget alone', () => {
    const unlimited = { configuredBytesPerSecond: Number.MAX_VALUE, explicit: false };
    const { budgets, changes } = run(unlimited, [pass(16), pass(32), idle]);
    expect(budgets).toEqual([Number.MAX_VALUE / MiB, Number.MAX_VALUE / MiB]);
    expect(changes).toEqual([]);
  });
});
