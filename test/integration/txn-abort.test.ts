/**
 * `samsa transactions describe-producers` and `abort` (kafka-transactions.sh) on a real broker: the open
 * transaction's producer and start offset from the partition's leader; an abort refused while the
 * coordinator still has the transaction open, or when no transaction starts at the offset; with --force
 * the abort marker ends it on the partition: read_committed readers go past it (the last stable offset
 * moves), none of its records is read, and the producer's later writes at its epoch are refused.
 */
import { ErrorCodes } from '@samsa/protocol';
import { describe, expect, it } from 'vitest';
import { runSamsa } from '../helpers/cli.js';
import { oneBrokerWithTopic } from '../helpers/one-broker.js';

const TOPIC = 'txn-abort';
const env = oneBrokerWithTopic(TOPIC);

/** Every value a read_committed reader gets from the partition's start, until it has `expected`. */
async function readCommitted(expected: number): Promise<string[]> {
  const reader = env.samsa.consumer({ isolationLevel: 'read_committed', autoOffsetReset: 'earliest', maxWaitMs: 100 });
  await reader.assign([{ topic: TOPIC, partition: 0 }]);
  const values: string[] = [];
  const signal = AbortSignal.timeout(20_000);
  try {
    for await (const m of reader.messages({ signal })) {
      values.push(m.value!.toString());
      if (values.length >= expected) break;
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  }
  await reader.close();
  return values;
}

describe('samsa transactions abort', () => {
  it('finds the open transaction, refuses while its coordinator has it, aborts it with --force', async () => {
    const bootstrap = env.cluster.bootstrap.join(',');
    const producer = env.samsa.producer({ transactionalId: 'tx-hanging' });
    await producer.begin();
    const first = await producer.send({ topic: TOPIC, partition: 0, value: 'open-1' });
    const { producerId, producerEpoch } = producer.producerIdentity;

    const described = await runSamsa([
      'transactions',
      'describe-producers',
      '--bootstrap-server',
      bootstrap,
      '--topic',
      TOPIC,
      '--partition',
      '0',
    ]);
    expect(described.stderr).toBe('');
    expect(described.stdout).toMatch(
      new RegExp(`${producerId}\\s+${producerEpoch}\\s+-1\\s+0\\s+\\d+\\s+${first.offset}`),
    );

    const abort = (offset: number, ...extra: string[]) =>
      runSamsa([
        'transactions',
        'abort',
        '--bootstrap-server',
        bootstrap,
        '--topic',
        TOPIC,
        '--partition',
        '0',
        '--start-offset',
        String(offset),
        ...extra,
      ]);
    const wrongOffset = await abort(first.offset + 5);
    expect(wrongOffset.code).not.toBe(0);
    expect(wrongOffset.stderr).toMatch(/no open transaction/);
    const refused = await abort(first.offset);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/tx-hanging.*Ongoing/);

    // Nothing after the open transaction is visible to read_committed readers yet.
    const plain = env.samsa.producer();
    await plain.send({ topic: TOPIC, partition: 0, value: 'after' });
    const forced = await abort(first.offset, '--force');
    expect(forced.stderr).toBe('');
    expect(forced.stdout).toContain(`aborted the transaction of producer ${producerId}`);
    expect(await readCommitted(1)).toEqual(['after']);

    // The producer's epoch is fenced on that partition now: the SDK reports the transaction abortable.
    await expect(producer.send({ topic: TOPIC, partition: 0, value: 'open-2' })).rejects.toMatchObject({
      code: ErrorCodes.TRANSACTION_ABORTABLE.code,
      cause: { code: ErrorCodes.INVALID_PRODUCER_EPOCH.code },
    });
    await producer.close();
    await plain.close();
    expect(await readCommitted(1)).toEqual(['after']);
  }, 90_000);
});
