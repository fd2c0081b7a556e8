import { describe, expect, it } from 'vitest';
import { DEFAULT_V8_FLAGS, applyV8Flags } from '../src/v8-flags.js';

describe('applyV8Flags', () => {
  const run = (env: NodeJS.ProcessEnv) => {
    const applied: string[] = [];
    const flags = applyV8Flags(env, (f) => applied.push(f));
    expect(applied).toEqual(flags);
    return flags;
  };

  it('applies the heap-growth defaults when SAMSA_V8_FLAGS is unset', () => {
    expect(DEFAULT_V8_FLAGS).toBe('--heap-growing-percent=300 --semi-space-growth-factor=1');
    expect(run({})).toEqual(['--heap-growing-percent=300', '--semi-space-growth-factor=1']);
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
