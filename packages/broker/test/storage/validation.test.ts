import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BatchField, CorruptRecordError, splitBatches } from '@samsa/protocol';
import {
  KafkaStorageError,
  openPartitionLog,
  RecordListTooLargeError,
  RecordTooLargeError,
  type AppendResult,
  type PartitionLog,
} from '@samsa/broker/internal';
import { makeBatch, tempDir } from './helpers.js';

const flipCrcCovered = (batch: Buffer): Buffer => {
  const copy = Buffer.from(batch);
  copy[copy.length - 2]! ^= 0x01;
  return copy;
};

describe('append validation', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let log: PartitionLog;
  beforeEach(async () => {
    dir = await tempDir();
    log = await openPartitionLog({ dir: dir.path, config: { maxMessageBytes: 1000, segmentBytes: 5000 } });
    await log.append(makeBatch({ count: 2 }));
  });
  afterEach(async () => {
    await log.close();
    await dir.remove();
  });

  const logFileSize = async (): Promise<number> => (await stat(join(dir.path, '00000000000000000000.log'))).size;

  it('rejects a bad CRC with CorruptMessage and leaves the log unchanged', async () => {
    const size = await logFileSize();
    await expect(log.append(flipCrcCovered(makeBatch({ count: 3 })))).rejects.toMatchObject({
      code: 2,
      errorName: 'CorruptMessage',
    });
    expect(log.logEndOffset).toBe(2);
    expect(await logFileSize()).toBe(size);
    expect((await log.read(2, 100)).bytes.length).toBe(0);
    expect((await log.append(makeBatch())).baseOffset).toBe(2);
  });

  it('appendsSettled waits for the appends a bad batch sent back to the queue; a queued no-op does not', async () => {
    const appends = [makeBatch({ count: 2 }), flipCrcCovered(makeBatch({ count: 5 })), makeBatch({ count: 3 })].map(
      (b) => log.append(b),
    );
    const outcomes = Promise.allSettled(appends);
    // flush() runs on the chain behind the drain; the run with the bad batch is undone and its good
    // appends queued again behind it. A leader reading its log end there would miss them.
    const settled = log.appendsSettled();
    await log.flush();
    expect(log.logEndOffset).toBe(2);
    await settled;
    expect(log.logEndOffset).toBe(7);
    expect((await outcomes).map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('a bad batch among concurrent appends fails alone; the others get contiguous offsets', async () => {
    const appends = [
      makeBatch({ count: 2 }),
      flipCrcCovered(makeBatch({ count: 5 })),
      makeBatch({ count: 3 }),
      makeBatch({ count: 1 }),
    ].map((b) => log.append(b));
    const settled = await Promise.allSettled(appends);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(CorruptRecordError);
    const offsets = settled
      .filter((s): s is PromiseFulfilledResult<AppendResult> => s.status === 'fulfilled')
      .map((s) => [s.value.baseOffset, s.value.lastOffset]);
    expect(offsets).toEqual([
      [2, 3],
      [4, 6],
      [7, 7],
    ]);
    const stored = splitBatches((await log.read(0, 1 << 20)).bytes);
    expect(stored.map((s) => s.header.baseOffset)).toEqual([0, 2, 4, 7]);
    expect(await logFileSize()).toBe(stored.reduce((n, s) => n + s.header.batchLength + 12, 0));
  });

  it('rejects truncated, empty and inconsistent batches with CorruptMessage', async () => {
    const batch = makeBatch({ count: 2 });
    await expect(log.append(batch.subarray(0, batch.length - 1))).rejects.toBeInstanceOf(CorruptRecordError);
    await expect(log.append(batch.subarray(0, 30))).rejects.toBeInstanceOf(CorruptRecordError);
    await expect(log.append(Buffer.alloc(0))).rejects.toBeInstanceOf(CorruptRecordError);
    const wrongCount = Buffer.from(batch);
    wrongCount.writeInt32BE(5, BatchField.lastOffsetDelta);
    await expect(log.append(wrongCount)).rejects.toBeInstanceOf(CorruptRecordError);
    expect(log.logEndOffset).toBe(2);
  });

  it('MessageTooLarge over maxMessageBytes; RecordListTooLarge for an append over segmentBytes', async () => {
    await expect(log.append(makeBatch({ count: 1, valueSize: 1000 }))).rejects.toBeInstanceOf(RecordTooLargeError);
    await expect(log.append(makeBatch({ count: 1, valueSize: 1000 }))).rejects.toMatchObject({ code: 10 });
    const many = Buffer.concat(Array.from({ length: 8 }, () => makeBatch({ count: 1, valueSize: 700 })));
    await expect(log.append(many)).rejects.toBeInstanceOf(RecordListTooLargeError);
    await expect(log.append(many)).rejects.toMatchObject({ code: 18 });
    expect(log.logEndOffset).toBe(2);
  });

  it('a closed log throws KafkaStorageError', async () => {
    await log.close();
    await expect(log.append(makeBatch())).rejects.toBeInstanceOf(KafkaStorageError);
    await expect(log.read(0, 10)).rejects.toBeInstanceOf(KafkaStorageError);
  });
});

describe('opening', () => {
  it('an unusable directory is a KafkaStorageError, not a crash', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'not-a-directory');
      await writeFile(file, 'x');
      await expect(openPartitionLog({ dir: file })).rejects.toBeInstanceOf(KafkaStorageError);
    } finally {
      await dir.remove();
    }
  });
});

describe('flush policy', () => {
  it('flush.messages and flush.ms fsync; flush() always does', async () => {
    const dir = await tempDir();
    try {
      for (const config of [{ flushMessages: 1 }, { flushMessages: 3 }, { flushMs: 0 }, {}]) {
        const log = await openPartitionLog({
          dir: join(dir.path, JSON.stringify(config).replace(/\W/g, '') || 'default'),
          config,
        });
        for (let i = 0; i < 5; i++) await log.append(makeBatch());
        await log.flush();
        expect(log.logEndOffset).toBe(5);
        await log.close();
      }
    } finally {
      await dir.remove();
    }
  });
});
