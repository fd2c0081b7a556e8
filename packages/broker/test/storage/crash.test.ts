import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { dumpSegment, openPartitionLog } from '@samsa/broker/internal';
import { makeBatch, tempDir } from './helpers.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/crash-writer.mjs', import.meta.url));
const truncator = fileURLToPath(new URL('./fixtures/crash-truncator.mjs', import.meta.url));

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

interface Offsets {
  readonly start: number;
  readonly end: number;
}
type Intent = { readonly intent: 'append' } | { readonly intent: 'delete' | 'truncate' | 'reset'; readonly to: number };

/**
 * Starts the truncator (fixtures/crash-truncator.mjs), lets it report `minOps` operations done and
 * run a random extra moment, then SIGKILLs it. Returns where it started, the offsets after the last
 * operation it reported done, and the operation it had begun since, if any.
 */
function runTruncatorUntilKilled(
  dir: string,
  seed: number,
  minOps: number,
  extraMs: number,
): Promise<{ ready: Offsets; last: Offsets; inFlight: Intent | undefined }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [truncator, dir, String(seed)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffered = '';
    let ready: Offsets | undefined;
    let last: Offsets | undefined;
    let inFlight: Intent | undefined;
    let ops = 0;
    let killTimer: NodeJS.Timeout | undefined;
    const safety = setTimeout(() => child.kill('SIGKILL'), 8000);
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const message = JSON.parse(line) as Partial<Offsets> & { ready?: boolean; done?: boolean; intent?: string };
        if (message.ready) ready = last = { start: message.start!, end: message.end! };
        else if (message.done) {
          last = { start: message.start!, end: message.end! };
          inFlight = undefined;
          ops++;
        } else inFlight = message as Intent;
      }
      if (ops >= minOps && !killTimer) killTimer = setTimeout(() => child.kill('SIGKILL'), extraMs);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(safety);
      if (killTimer) clearTimeout(killTimer);
      if (signal !== 'SIGKILL' || !ready || !last) reject(new Error(`truncator exited with ${signal ?? code}`));
      else resolve({ ready, last, inFlight });
    });
  });
}

/** Whether `after` is a state a crash during `intent`, begun at `before`, may reopen as. */
function allowedAfter(before: Offsets, intent: Intent | undefined, after: Offsets): boolean {
  const unchanged = after.start === before.start && after.end === before.end;
  if (intent === undefined || intent.intent === 'append')
    return after.start === before.start && after.end >= before.end;
  const { to } = intent;
  if (intent.intent === 'delete')
    return after.end === before.end && (after.start === before.start || after.start === Math.max(before.start, to));
  if (intent.intent === 'reset') return unchanged || (after.start === to && after.end === to);
  // truncate: what is left of the old log from its start, or an empty log at the offset or the old start
  // (also when the cut removed the batch holding the start: the start stays). The cut is at the base of
  // the batch holding the offset: the truncator's batches hold at most 5 records.
  if (to >= before.end) return unchanged;
  const cut = after.end <= before.end && after.end > to - 5;
  const empty = after.start === after.end && (after.start === to || after.start === before.start);
  return empty || (after.start === before.start && cut);
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

  it('DeleteRecords, truncations and resets SIGKILLed at random moments reopen as states they allow', async () => {
    const dir = await tempDir('samsa-crash-');
    try {
      let seed = 777;
      let expected: Offsets = { start: 0, end: 0 };
      const interrupted = new Set<string>();
      for (let round = 0; round < 12; round++) {
        seed = (seed * 7919 + round) % 1_000_003;
        const { ready, last, inFlight } = await runTruncatorUntilKilled(dir.path, seed, 5 + (seed % 40), seed % 50);
        expect(ready).toEqual(expected);
        interrupted.add(inFlight?.intent ?? 'none');
        const log = await openPartitionLog({ dir: dir.path });
        try {
          const after = { start: log.logStartOffset, end: log.logEndOffset };
          const where = `round ${round}: ${JSON.stringify({ last, inFlight, after })}`;
          expect(log.state, where).toBe('online');
          expect(allowedAfter(last, inFlight, after), where).toBe(true);
          // Whole, valid, contiguous batches up to the end; nothing wholly below the start.
          let next: number | undefined;
          for await (const entry of dumpSegment(dir.path)) {
            expect(entry.kind, where).toBe('batch');
            if (entry.kind !== 'batch') break;
            expect([entry.crcValid, entry.baseOffset], where).toEqual([true, next ?? entry.baseOffset]);
            next = entry.lastOffset + 1;
          }
          expect(next ?? after.end, where).toBe(after.end);
          const bases = (await readdir(dir.path)).filter((n) => n.endsWith('.log')).map((n) => Number(n.slice(0, 20)));
          expect(bases.sort((a, b) => a - b)[1] ?? Number.POSITIVE_INFINITY, where).toBeGreaterThan(after.start);
          const recoveryPoint = Number(await readFile(join(dir.path, 'recovery-point'), 'utf8').catch(() => '0'));
          expect(recoveryPoint, where).toBeLessThanOrEqual(after.end);
          expect((await log.append(makeBatch({ count: 2 }))).baseOffset, where).toBe(after.end);
          expected = { start: after.start, end: after.end + 2 };
        } finally {
          await log.close();
        }
      }
      // Most rounds end inside an operation; over 12 rounds the kills land in more than one kind.
      expect(interrupted.size).toBeGreaterThan(1);
    } finally {
      await dir.remove();
    }
  }, 120_000);
});
