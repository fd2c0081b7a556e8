import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CorruptCheckpointError,
  HIGH_WATERMARK_CHECKPOINT_FILE,
  formatHighWatermarkCheckpoint,
  loadHighWatermarks,
  parseHighWatermarkCheckpoint,
  saveHighWatermarks,
} from '../../src/replication/index.js';

describe('replication-offset-checkpoint file', () => {
  const dirs: string[] = [];
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'samsa-hw-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it('uses Kafka text format, sorted by topic and partition', () => {
    const text = formatHighWatermarkCheckpoint([
      { topic: 'orders', partition: 10, highWatermark: 7 },
      { topic: 'audit.log', partition: 0, highWatermark: 0 },
      { topic: 'orders', partition: 2, highWatermark: 1500 },
    ]);
    expect(text).toBe('0\n3\naudit.log 0 0\norders 2 1500\norders 10 7\n');
    expect(formatHighWatermarkCheckpoint([])).toBe('0\n0\n');
  });

  it('round-trips through the file, atomically replacing it', async () => {
    const dir = await tempDir();
    expect(await loadHighWatermarks(dir)).toEqual([]);
    const entries = [
      { topic: 'a', partition: 0, highWatermark: 5 },
      { topic: 'b_2-x', partition: 3, highWatermark: 2 ** 40 },
    ];
    await saveHighWatermarks(dir, formatHighWatermarkCheckpoint(entries));
    expect(await loadHighWatermarks(dir)).toEqual(entries);
    await saveHighWatermarks(dir, formatHighWatermarkCheckpoint(entries.slice(1)));
    expect(await loadHighWatermarks(dir)).toEqual(entries.slice(1));
    expect(await readdir(dir)).toEqual([HIGH_WATERMARK_CHECKPOINT_FILE]);
    expect(await readFile(join(dir, HIGH_WATERMARK_CHECKPOINT_FILE), 'utf8')).toBe(`0\n1\nb_2-x 3 ${2 ** 40}\n`);
  });

  it.each([
    ['empty', ''],
    ['bad version', '1\n0\n'],
    ['count larger than the lines', '0\n2\nt 0 5\n'],
    ['two fields', '0\n1\nt 5\n'],
    ['four fields', '0\n1\nt 0 5 9\n'],
    ['a negative high watermark', '0\n1\nt 0 -5\n'],
    ['a fractional partition', '0\n1\nt 1.5 5\n'],
    ['an empty topic', '0\n1\n 0 5\n'],
    ['a partition twice', '0\n2\nt 0 5\nt 0 6\n'],
    ['garbage', '\u0000\u0001binary'],
  ])('a corrupt file (%s) is a typed error naming the file', async (_name, text) => {
    const dir = await tempDir();
    await writeFile(join(dir, HIGH_WATERMARK_CHECKPOINT_FILE), text);
    const err = await loadHighWatermarks(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptCheckpointError);
    expect((err as CorruptCheckpointError).path).toBe(join(dir, HIGH_WATERMARK_CHECKPOINT_FILE));
    expect((err as CorruptCheckpointError).code).toBe(56);
  });

  it('names the offending line', () => {
    expect(() => parseHighWatermarkCheckpoint('0\n2\nt 0 5\nt 1 x\n', 'dir/replication-offset-checkpoint')).toThrow(
      /dir\/replication-offset-checkpoint:4: expected a high watermark, found "x"/,
    );
  });
});
