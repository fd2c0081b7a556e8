import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DEFAULT_V8_FLAGS, applyV8Flags } from '../src/v8-flags.js';

describe('applyV8Flags', () => {
  const run = (env: NodeJS.ProcessEnv) => {
    const applied: string[] = [];
    const flags = applyV8Flags(env, (f) => applied.push(f));
    expect(applied).toEqual(flags);
    return flags;
  };

  it('applies the heap-growth and scavenge defaults when SAMSA_V8_FLAGS is unset', () => {
    expect(DEFAULT_V8_FLAGS).toBe('--heap-growing-percent=300 --semi-space-growth-factor=1 --no-parallel-scavenge');
    expect(run({})).toEqual(['--heap-growing-percent=300', '--semi-space-growth-factor=1', '--no-parallel-scavenge']);
  });

  it("leaves a scavenge's work on the main thread when applied at startup (no helper thread to wait for)", () => {
    // Scavenges with many survivors, then the CPU time of the process's other threads (V8's helpers) against
    // the main thread's: with parallel scavenging the helpers take a large share of every scavenge.
    const script = `
      const v8 = require('node:v8');
      for (const flag of (process.env.FLAGS ?? '').split(' ').filter(Boolean)) v8.setFlagsFromString(flag);
      const before = process.cpuUsage(), mainBefore = process.threadCpuUsage();
      const keep = new Array(20000);
      for (let i = 0; i < 3e6; i++) keep[i % 20000] = { i, s: 'x' + (i % 1000), a: [i] };
      const all = process.cpuUsage(before), main = process.threadCpuUsage(mainBefore);
      console.log(JSON.stringify({ others: all.user + all.system - main.user - main.system }));`;
    const othersUs = (flags: string) => {
      const out = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, FLAGS: flags } });
      return JSON.parse(out.stdout.toString()).others as number;
    };
    const parallel = othersUs('--semi-space-growth-factor=1');
    const defaults = othersUs(DEFAULT_V8_FLAGS);
    expect(defaults).toBeLessThan(parallel / 2);
  });

  it('takes the flags from SAMSA_V8_FLAGS, and none when it is empty', () => {
    expect(run({ SAMSA_V8_FLAGS: ' --heap-growing-percent=100   --no-memory-reducer ' })).toEqual([
      '--heap-growing-percent=100',
      '--no-memory-reducer',
    ]);
    expect(run({ SAMSA_V8_FLAGS: '' })).toEqual([]);
  });

  it('refuses a value that is not a flag before applying any', () => {
    const applied: string[] = [];
    expect(() => applyV8Flags({ SAMSA_V8_FLAGS: '--ok=1 heap-growing-percent=3' }, (f) => applied.push(f))).toThrow(
      /"heap-growing-percent=3" is not a V8 flag/,
    );
    expect(applied).toEqual([]);
  });
});
