import { appendFile, open, readdir, readFile, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BatchField, splitBatches } from '@samsa/protocol';
import {
  KafkaStorageError,
  openPartitionLog,
  type PartitionLog,
  type PartitionLogOptions,
} from '@samsa/broker/internal';
import { makeBatch, tempDir } from './helpers.js';

const config = { segmentBytes: 2000, indexIntervalBytes: 100 };
const segmentFile = (dir: string, base: number, suffix: string): string =>
  join(dir, `${String(base).padStart(20, '0')}${suffix}`);

/** Captures pino JSON lines so tests can check what the log reported. */
function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n'))
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), lines };
}

async function allBatches(log: PartitionLog): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const result = await log.read(offset, 1 << 20);
    for (const span of splitBatches(result.bytes))
      out.push(result.bytes.subarray(span.position, span.position + span.header.batchLength + 12));
    offset = result.lastOffset + 1;
  }
  return out;
}

describe('recovery on open', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let appended: Buffer[];
  let bases: number[];
  const reopen = (extra: Partial<PartitionLogOptions> = {}): Promise<PartitionLog> =>
    openPartitionLog({ dir: dir.path, config, ...extra });

  beforeEach(async () => {
    dir = await tempDir();
    const log = await reopen();
    appended = [];
    for (let i = 0; i < 40; i++) {
      const batch = makeBatch({ count: 1 + (i % 3), valueSize: 40 + i, fill: i, baseTimestamp: 1000 + i });
      await log.append(batch);
      appended.push(batch);
    }
    bases = log.segmentBaseOffsets();
    expect(bases.length).toBeGreaterThan(3);
    await log.close();
  });
  afterEach(async () => {
    await dir.remove();
  });

  /** Forgets the clean shutdown (and optionally the recovery point): the next open recovers. */
  const crash = async (forgetRecoveryPoint = false): Promise<void> => {
    await unlink(join(dir.path, '.clean-shutdown'));
    if (forgetRecoveryPoint) await unlink(join(dir.path, 'recovery-point'));
  };

  /** Starts a fresh active segment holding `n` small batches, so its middle can be damaged. */
  const fillFreshActive = async (n: number): Promise<number> => {
    const log = await reopen();
    await log.roll();
    const base = log.logEndOffset;
    for (let i = 0; i < n; i++) {
      const batch = makeBatch({ count: 2, valueSize: 30, fill: 100 + i });
      await log.append(batch);
      appended.push(batch);
    }
    await log.close();
    return base;
  };

  const expectIntact = async (log: PartitionLog, batches = appended): Promise<void> => {
    const read = await allBatches(log);
    expect(read.length).toBe(batches.length);
    for (const [i, b] of read.entries()) expect(b.equals(batches[i]!)).toBe(true);
  };

  for (const [name, damage] of [
    ['deleted', (path: string) => unlink(path)],
    ['garbage of an odd size', (path: string) => writeFile(path, Buffer.from('not an index at all'))],
    ['garbage of a plausible size', (path: string) => writeFile(path, Buffer.alloc(48, 0xab))],
  ] as const) {
    for (const clean of [true, false]) {
      it(`rebuilds indexes that are ${name} (${clean ? 'clean' : 'unclean'} shutdown)`, async () => {
        for (const base of bases) {
          await damage(segmentFile(dir.path, base, '.index'));
          await damage(segmentFile(dir.path, base, '.timeindex'));
        }
        if (!clean) await crash(true);
        const log = await reopen();
        expect(log.state).toBe('online');
        await expectIntact(log);
        expect(await log.offsetForTimestamp(1020)).toMatchObject({ offset: expect.any(Number), timestamp: 1020 });
        await log.close();
        for (const base of bases) expect((await stat(segmentFile(dir.path, base, '.index'))).size % 8).toBe(0);
      });
    }
  }

  it('rebuilds an index whose middle entry points at the wrong batch', async () => {
    const path = segmentFile(dir.path, bases[0]!, '.index');
    const index = await readFile(path);
    expect(index.length).toBeGreaterThanOrEqual(16);
    index.writeInt32BE(index.readInt32BE(4) + 1, 4);
    await writeFile(path, index);
    const log = await reopen();
    await expectIntact(log);
    await log.close();
  });

  it('rebuilds the active segment index when a middle entry is wrong, between appends', async () => {
    const last = await fillFreshActive(8);
    const path = segmentFile(dir.path, last, '.index');
    const index = await readFile(path);
    expect(index.length).toBeGreaterThanOrEqual(24);
    index.writeInt32BE(index.readInt32BE(12) + 1, 12);
    await writeFile(path, index);
    const log = await reopen();
    const appends = Promise.all([log.append(makeBatch({ count: 2 })), log.append(makeBatch({ count: 3 }))]);
    const reads = Promise.all(Array.from({ length: log.logEndOffset }, (_, offset) => log.read(offset, 1)));
    await Promise.all([appends, reads]);
    expect(log.state).toBe('online');
    const stored = await allBatches(log);
    expect(stored.length).toBe(appended.length + 2);
    for (const [i, batch] of appended.entries()) expect(stored[i]!.equals(batch)).toBe(true);
    await log.close();
  });

  it('truncates a torn tail (the file cut in the middle of the last batch) and appends after it', async () => {
    await crash();
    const last = bases.at(-1)!;
    const path = segmentFile(dir.path, last, '.log');
    const size = (await stat(path)).size;
    await truncate(path, size - 7);
    const { logger, lines } = capturingLogger();
    const log = await reopen({ logger });
    expect(log.state).toBe('online');
    await expectIntact(log, appended.slice(0, -1));
    expect((await stat(path)).size).toBe(size - appended.at(-1)!.length);
    expect(lines.some((l) => l.msg === 'truncating torn tail of the log')).toBe(true);
    const end = log.logEndOffset;
    expect((await log.append(makeBatch())).baseOffset).toBe(end);
    await log.close();
  });

  it('truncates a flipped byte in the last batch and zeros after the end', async () => {
    await crash();
    const path = segmentFile(dir.path, bases.at(-1)!, '.log');
    const fh = await open(path, 'r+');
    const size = (await fh.stat()).size;
    const at = size - 5;
    const byte = Buffer.alloc(1);
    await fh.read(byte, 0, 1, at);
    byte[0]! ^= 0x40;
    await fh.write(byte, 0, 1, at);
    await fh.close();
    await appendFile(path, Buffer.alloc(4096));
    const log = await reopen();
    expect(log.state).toBe('online');
    await expectIntact(log, appended.slice(0, -1));
    await log.close();
  });

  it('a flipped byte in the middle of the active segment takes the partition offline without crashing', async () => {
    const last = await fillFreshActive(4);
    await crash();
    const path = segmentFile(dir.path, last, '.log');
    const bytes = await readFile(path);
    const second = splitBatches(bytes)[1]!;
    const flipAt = second.position + 70;
    bytes[flipAt]! ^= 0x01;
    await writeFile(path, bytes);
    const { logger, lines } = capturingLogger();
    const log = await reopen({ logger });
    expect(log.state).toBe('offline');
    await expect(log.read(0, 100)).rejects.toBeInstanceOf(KafkaStorageError);
    await expect(log.append(makeBatch())).rejects.toMatchObject({ code: 56, errorName: 'KafkaStorageError' });
    await expect(log.flush()).rejects.toBeInstanceOf(KafkaStorageError);
    const line = lines.find((l) => l.msg === 'partition log is offline');
    expect(line).toMatchObject({ file: path, position: second.position });
    await log.close();
    // Nothing was deleted: the operator can still inspect the bytes.
    expect((await readFile(path)).length).toBe(bytes.length);
  });

  it('corruption in a non-final segment takes the partition offline', async () => {
    await crash(true);
    const path = segmentFile(dir.path, bases[1]!, '.log');
    const bytes = await readFile(path);
    bytes[bytes.length - 3]! ^= 0xff;
    await writeFile(path, bytes);
    const log = await reopen();
    expect(log.state).toBe('offline');
    await log.close();
  });

  it('offsets that go backwards inside a segment take the partition offline', async () => {
    const last = await fillFreshActive(4);
    await crash();
    const path = segmentFile(dir.path, last, '.log');
    const bytes = await readFile(path);
    const spans = splitBatches(bytes);
    // baseOffset is outside the CRC, so the batch still checks out: only the offset order catches it.
    bytes.writeBigInt64BE(BigInt(spans[0]!.header.baseOffset), spans[2]!.position + BatchField.baseOffset);
    await writeFile(path, bytes);
    const log = await reopen();
    expect(log.state).toBe('offline');
    await log.close();
  });

  it('a clean reopen trusts the indexes and leaves the files alone', async () => {
    const before = await Promise.all(bases.map(async (b) => (await stat(segmentFile(dir.path, b, '.index'))).mtimeMs));
    const log = await reopen();
    await expectIntact(log);
    await log.close();
    const names = await readdir(dir.path);
    expect(names).toContain('.clean-shutdown');
    const after = await Promise.all(
      bases.slice(0, -1).map(async (b) => (await stat(segmentFile(dir.path, b, '.index'))).mtimeMs),
    );
    expect(after).toEqual(before.slice(0, -1));
  });
});
