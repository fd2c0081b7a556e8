/**
 * What Kafka's broker checks of a Produce request's records before it appends (ProduceRequest's
 * validateRecords), answered per partition with Kafka's codes: from v3 the records must be RecordBatch v2
 * (magic 2) and not empty, INVALID_RECORD (87, not retriable) otherwise, and ZStandard needs v7+,
 * UNSUPPORTED_COMPRESSION_TYPE (76). These were CORRUPT_MESSAGE (2), which clients retry until their
 * delivery timeout. Below v3 any message set is converted as before. Real partition log.
 */
import { BatchField, encodeBatch, readBatchHeader, writeBatchCrc } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import { describe, expect, it } from 'vitest';
import { BROKER_SETTINGS, resolveSettings } from '../../src/config.js';
import { produce } from '../../src/kafka/produce.js';
import type { BrokerContext } from '../../src/server/context.js';
import { leaderPerTest } from '../server/leader-fixture.js';

const fixture = leaderPerTest('samsa-produce-validation-');

async function leader(): Promise<BrokerContext> {
  const { ctx } = await fixture.leader([1]);
  return { ...ctx, settings: resolveSettings(BROKER_SETTINGS) } as BrokerContext;
}

async function produced(ctx: BrokerContext, version: number, records: Buffer | null) {
  const reply = await produceRequest(ctx, version, { transactionalId: null, acks: 1, records });
  return (reply.body as kafka.ProduceResponseData).responses[0]!.partitionResponses[0]!;
}

function produceRequest(
  ctx: BrokerContext,
  version: number,
  request: { transactionalId: string | null; acks: number; records: Buffer | null },
) {
  return produce(
    ctx,
    version,
    {
      transactionalId: request.transactionalId,
      acks: request.acks,
      timeoutMs: 1000,
      topicData: [{ name: 't', partitionData: [{ index: 0, records: request.records }] }],
    },
    new AbortController().signal,
  );
}

/** A batch with one of its header fields changed, its CRC made right again (`resealed`) or left stale. */
function altered(batch: Buffer, edit: (b: Buffer) => void, resealed = true): Buffer {
  const copy = Buffer.from(batch);
  edit(copy);
  if (resealed) writeBatchCrc(copy, 0, readBatchHeader(copy, 0));
  return copy;
}

const messageSet = (magic: 0 | 1) =>
  kafka.encodeMessageSet(
    [{ offset: 0, magic, timestamp: magic === 1 ? 1000 : null, key: null, value: Buffer.from('v') }],
    magic,
  );
const batch = (compression: 'none' | 'zstd') => encodeBatch([{ value: Buffer.from('v') }], { now: 1000, compression });

describe('Produce record validation on the Kafka listener', () => {
  it('v3+: a magic 0 or 1 message set is INVALID_RECORD, nothing appended', async () => {
    const ctx = await leader();
    for (const magic of [0, 1] as const) {
      expect(await produced(ctx, 3, messageSet(magic)), `magic ${magic}`).toMatchObject({
        errorCode: 87,
        baseOffset: -1,
      });
    }
    expect(fixture.opened!.log.logEndOffset).toBe(10);
  });

  it('v3+: no records (null or empty) is INVALID_RECORD', async () => {
    const ctx = await leader();
    expect((await produced(ctx, 3, null)).errorCode).toBe(87);
    expect((await produced(ctx, 9, Buffer.alloc(0))).errorCode).toBe(87);
  });

  it('ZStandard below v7 is UNSUPPORTED_COMPRESSION_TYPE; from v7 it is appended', async () => {
    const ctx = await leader();
    expect((await produced(ctx, 6, batch('zstd'))).errorCode).toBe(76);
    expect(await produced(ctx, 7, batch('zstd'))).toMatchObject({ errorCode: 0, baseOffset: 10 });
  });

  it('v0-v2 message sets are still converted and appended; a v2 batch at v3 as before', async () => {
    const ctx = await leader();
    expect(await produced(ctx, 2, messageSet(1))).toMatchObject({ errorCode: 0, baseOffset: 10 });
    expect(await produced(ctx, 0, messageSet(0))).toMatchObject({ errorCode: 0, baseOffset: 11 });
    expect(await produced(ctx, 3, batch('none'))).toMatchObject({ errorCode: 0, baseOffset: 12 });
  });

  it('v3+: two batches for one partition are INVALID_RECORD (Kafka allows exactly one), nothing appended', async () => {
    const ctx = await leader();
    const two = Buffer.concat([batch('none'), batch('none')]);
    expect(await produced(ctx, 9, two)).toMatchObject({ errorCode: 87, baseOffset: -1 });
    expect(fixture.opened!.log.logEndOffset).toBe(10);
  });

  it('a record count not matching the last offset delta, or 0, is INVALID_RECORD (was CORRUPT_MESSAGE)', async () => {
    const ctx = await leader();
    const two = encodeBatch([{ value: Buffer.from('a') }, { value: Buffer.from('b') }], { now: 1000 });
    const mismatched = altered(two, (b) => b.writeInt32BE(0, BatchField.lastOffsetDelta));
    expect(await produced(ctx, 9, mismatched)).toMatchObject({ errorCode: 87, baseOffset: -1 });
    const none = altered(two, (b) => b.writeInt32BE(0, BatchField.recordCount));
    expect((await produced(ctx, 9, none)).errorCode).toBe(87);
    // The same change without a CRC to match is damage on the way: CORRUPT_MESSAGE (retriable), as Kafka
    // checks the CRC first.
    const damaged = altered(two, (b) => b.writeInt32BE(0, BatchField.lastOffsetDelta), false);
    expect((await produced(ctx, 9, damaged)).errorCode).toBe(2);
    expect(fixture.opened!.log.logEndOffset).toBe(10);
  });

  it("a control batch from a client is INVALID_RECORD: markers are the transaction coordinator's", async () => {
    const ctx = await leader();
    const marker = encodeBatch([{ key: Buffer.from([0, 0, 0, 1]), value: Buffer.alloc(6) }], {
      now: 1000,
      producerId: 7,
      producerEpoch: 0,
      transactional: true,
      control: true,
    });
    const reply = await produceRequest(ctx, 9, { transactionalId: 'tx', acks: 1, records: marker });
    const answer = (reply.body as kafka.ProduceResponseData).responses[0]!.partitionResponses[0]!;
    expect(answer).toMatchObject({ errorCode: 87, baseOffset: -1 });
    expect(fixture.opened!.log.logEndOffset).toBe(10);
  });

  it('a transactional batch with no transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED', async () => {
    const ctx = await leader();
    const txn = encodeBatch([{ value: Buffer.from('v') }], {
      now: 1000,
      producerId: 7,
      producerEpoch: 0,
      baseSequence: 0,
      transactional: true,
    });
    expect(await produced(ctx, 9, txn)).toMatchObject({ errorCode: 53, baseOffset: -1 });
    // acks=0: no answer to give, so the connection is closed.
    expect(await produceRequest(ctx, 9, { transactionalId: null, acks: 0, records: txn })).toEqual({
      body: null,
      closeConnection: true,
    });
    expect(fixture.opened!.log.logEndOffset).toBe(10);
  });
});
