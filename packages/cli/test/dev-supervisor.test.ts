import { describe, expect, it } from 'vitest';
import { restartDelayMs } from '../src/dev/supervisor.js';

describe('samsa dev restart backoff', () => {
  it('doubles from 1 s to a ceiling of 30 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 50].map(restartDelayMs)).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });
});
