import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { Txn } from '../src/core.js';
import { encodeTxnRecord } from '../src/records.js';
import { recover, TxnLog } from '../src/storage.js';

const logger = pino({ level: 'silent' });
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'samsa-coord-storage-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const txn = (zxid: number): Txn => ({
  zxid,
  timeMs: zxid * 10,
  sessionId: 1n,
  op: { type: 'setData', path: '/x', data: Buffer.from(`v${zxid}`), version: zxid },
});

async function writeLog(dataDir: string, from: number, to: number): Promise<number[]> {
  const durable: number[] = [];
  const log = await TxnLog.open(
    {
      dataDir,
      logger,
      onDurable: (seq) => durable.push(seq),
      onFatal: (err) => {
        throw err;
      },
    },
    from - 1,
  );
  for (let z = from; z <= to; z++) log.append(encodeTxnRecord(txn(z)));
  await log.close();
  return durable;
}

describe('txn log', () => {
  it('group-commits appends made in the same turn and recovers them in order', async () => {
    const dataDir = tempDir();
    const durable = await writeLog(dataDir, 1, 50);
    expect(durable).toEqual([50]); // one fsync for the whole burst
    const rec = recover(dataDir, logger);
    expect(rec.snapshot).toBeNull();
    expect(rec.txns.map((t) => t.zxid)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(rec.txns[9]).toEqual(txn(10));
  });

  it('truncates a torn or corrupt tail of the last log', async () => {
    const dataDir = tempDir();
    await writeLog(dataDir, 1, 5);
    const [file] = readdirSync(dataDir).filter((f) => f.startsWith('log.'));
    const path = join(dataDir, file!);
    const good = statSync(path).size;
    const sixth = encodeTxnRecord(txn(6));
    sixth[sixth.length - 1] = sixth[sixth.length - 1]! ^ 1; // checksum mismatch
    appendFileSync(path, sixth);
    const rec = recover(dataDir, logger);
    expect(rec.txns.map((t) => t.zxid)).toEqual([1, 2, 3, 4, 5]);
    expect(statSync(path).size).toBe(good);
  });

  it('refuses corruption in a log that later logs follow', async () => {
    const dataDir = tempDir();
    await writeLog(dataDir, 1, 3);
    await writeLog(dataDir, 4, 6);
    const first = readdirSync(dataDir)
      .filter((f) => f.startsWith('log.'))
      .sort()[0]!;
    const path = join(dataDir, first);
    writeFileSync(path, Buffer.concat([encodeTxnRecord(txn(1)), Buffer.from([1, 2, 3])]));
    expect(() => recover(dataDir, logger)).toThrow(/corrupt transaction log/);
  });

  it('refuses a gap in the zxid sequence', async () => {
    const dataDir = tempDir();
    await writeLog(dataDir, 1, 3);
    await writeLog(dataDir, 5, 6);
    expect(() => recover(dataDir, logger)).toThrow(/gap/);
  });
});
