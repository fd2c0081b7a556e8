import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { dumpSegment, openPartitionLog } from '@samsa/broker/internal';
import { makeBatch, tempDir } from './helpers.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/crash-writer.mjs', import.meta.url));

interface Report {
  readonly baseOffset: number;
  readonly lastOffset: number;
  readonly size: number;
  readonly sha: string;
}

/** Whether some storage source (or the package index) is newer than its compiled output. */
async function distIsStale(): Promise<boolean> {
  const names = [
    'index.ts',
    ...(await readdir(join(root, 'packages/broker/src/storage')))
      .filter((n) => n.endsWith('.ts'))
      .map((n) => `storage/${n}`),
  ];
  for (const name of names) {
    const source = (await stat(join(root, 'packages/broker/src', name))).mtimeMs;
    const output = await stat(join(root, 'packages/broker/dist', name.replace(/\.ts$/, '.js'))).then(
      (s) => s.mtimeMs,
      () => 0,
    );
    if (output < source) return true;
  }
  return false;
}

/**
 * The child runs the built package; rebuild it when the storage sources changed. Type errors
 * elsewhere in the package (work in progress) do not stop tsc from emitting our files.
 */
async function ensureBuilt(): Promise<void> {
  if (!(await distIsStale())) return;
  spawnSync('npx', ['tsc', '-b', 'packages/broker'], { cwd: root, stdio: 'inherit' });
  await stat(join(root, 'packages/broker/dist/index.js'));
}

/**
 * Starts the writer, waits until it has acknowledged `minReports` batches (a condition, not a sleep),
 * lets it run a random extra moment, then SIGKILLs it. Returns what it acknowledged.
 */
function runWriterUntilKilled(
  dir: string,
  seed: number,
  flushMode: 'every' | 'replication',
  minReports: number,
  extraMs: number,
): Promise<{ start: { state: string; logEndOffset: number }; reports: Report[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, dir, String(seed), flushMode], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffered = '';
    let start: { state: string; logEndOffset: number } | undefined;
    const reports: Report[] = [];
    let killTimer: NodeJS.Timeout | undefined;
    const safety = setTimeout(() => child.kill('SIGKILL'), 8000);
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const message = JSON.parse(line) as Report & { ready?: boolean; state: string; logEndOffset: number };
        if (message.ready) start = message;
        else reports.push(message);
      }
      if (reports.length >= minReports && !killTimer) killTimer = setTimeout(() => child.kill('SIGKILL'), extraMs);
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      clearTimeout(safety);
      if (killTimer) clearTimeout(killTimer);
      // A partial last line was never acknowledged as a whole: ignore it.
      if (signal !== 'SIGKILL' || !start)
        reject(new Error(`writer exited with ${signal ?? _code} before being killed`));
      else resolve({ start, reports });
    });
  });
}

describe('crash safety with real processes', () => {
  beforeAll(ensureBuilt, 120_000);

  const cases = [
    { flushMode: 'every', rounds: 5 },
    { flushMode: 'replication', rounds: 3 },
  ] as const;
  it.each(cases)(
    'every batch acknowledged with flush mode $flushMode survives SIGKILL byte for byte',
    async ({ flushMode, rounds }) => {
      const dir = await tempDir('samsa-crash-');
      try {
        let expectedEnd = 0;
        const acknowledged = new Map<number, Report>();
        let seed = 12345;
        for (let round = 0; round < rounds; round++) {
          seed = (seed * 7919 + round) % 1_000_003;
          const { start, reports } = await runWriterUntilKilled(dir.path, seed, flushMode, 5 + (seed % 20), seed % 300);
          expect(start).toEqual({ ready: true, state: 'online', logEndOffset: expectedEnd });
          for (const report of reports) acknowledged.set(report.baseOffset, report);

          const log = await openPartitionLog({ dir: dir.path });
          expect(log.state).toBe('online');
          const lastAcknowledged = reports.at(-1)?.lastOffset ?? expectedEnd - 1;
          expect(log.logEndOffset).toBeGreaterThanOrEqual(lastAcknowledged + 1);
          for (const report of acknowledged.values()) {
            const { bytes, firstOffset } = await log.read(report.baseOffset, 1);
            expect(firstOffset).toBe(report.baseOffset);
            expect(bytes.length).toBe(report.size);
            expect(createHash('sha256').update(bytes).digest('hex')).toBe(report.sha);
          }
          // The files hold whole, valid, contiguous batches and nothing else.
          let next = 0;
          for await (const entry of dumpSegment(dir.path)) {
            expect(entry.kind).toBe('batch');
            if (entry.kind !== 'batch') break;
            expect(entry.crcValid).toBe(true);
            expect(entry.baseOffset).toBe(next);
            next = entry.lastOffset + 1;
          }
          expect(next).toBe(log.logEndOffset);
          // Appends continue right after the recovered end.
          const end = log.logEndOffset;
          expect((await log.append(makeBatch({ count: 2 }))).baseOffset).toBe(end);
          expectedEnd = end + 2;
          await log.close();
        }
        expect(acknowledged.size).toBeGreaterThan(5 * rounds);
      } finally {
        await dir.remove();
      }
    },
    60_000,
  );
});
