/**
 * A consume-transform-produce job in a process of its own, for the exactly-once chaos test: a member of
 * a consumer group reading `--input`, writing each record transformed to the same partition of
 * `--output` in transactions that also commit the consumed offsets (tx.sendOffsets). Runs the built SDK
 * (packages/client/dist). Every event is one JSON line on stdout:
 *   {"event":"committed","txn":"A-3-7","partition":0,"from":40,"to":65}   input offsets [from, to)
 *   {"event":"aborted","txn":"A-3-8","partition":0,"message":"..."}        its output never shows
 * and, for a post-mortem, what the job was handed and under which membership (t: ms since the epoch):
 *   {"event":"assigned"|"revoked"|"lost","partitions":[0],"memberId":"..","memberEpoch":5,"t":..}
 *   {"event":"batch","partition":0,"from":120,"to":154,"memberId":"..","memberEpoch":5,"t":..}
 *   {"event":"status","phase":"..","assignment":[0],"memberId":"..","memberEpoch":5,"state":"stable",..}
 * A transaction that fails is aborted and the partition goes back to the group's committed offset (a
 * commit whose outcome is unknown may have committed: the committed offset says). Output values are
 * JSON: { txn, partition, offset, value } of the input record. SIGTERM closes it; SIGKILL is the point.
 *
 * node test/helpers/txn-job.mjs --bootstrap H:P[,...] --input T --output T --group G --name A
 *   [--max-records 25] [--session-timeout-ms 6000] [--abort-every N]
 * With --abort-every N, every Nth transaction throws after its output and offsets were sent (aborted on
 * purpose: the reader must never see its output).
 */
import { parseArgs } from 'node:util';
import { Samsa } from '@samsa/client';

const { values } = parseArgs({
  options: {
    bootstrap: { type: 'string' },
    input: { type: 'string' },
    output: { type: 'string' },
    group: { type: 'string' },
    name: { type: 'string' },
    'max-records': { type: 'string', default: '25' },
    'session-timeout-ms': { type: 'string', default: '6000' },
    'abort-every': { type: 'string', default: '0' },
  },
});

const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const maxRecords = Number(values['max-records']);
const abortEvery = Number(values['abort-every']);
const samsa = new Samsa({
  brokers: values.bootstrap.split(','),
  clientId: `txn-job-${values.name}-${process.pid}`,
  retry: { retries: 100, initialRetryTimeMs: 50, maxRetryTimeMs: 500 },
});
const consumer = samsa.consumer({
  groupId: values.group,
  autoOffsetReset: 'earliest',
  maxWaitMs: 100,
  sessionTimeoutMs: Number(values['session-timeout-ms']),
  enableAutoCommit: false,
  isolationLevel: 'read_committed',
});
// One transactional id per job member: its restart fences the killed incarnation and aborts what it left open.
const producer = samsa.producer({ transactionalId: `txn-job-${values.name}`, transactionTimeoutMs: 10_000 });
const abort = new AbortController();
process.once('SIGTERM', () => abort.abort());
/** The member as it is now, for events about what it was handed. */
const member = () => {
  const { memberId, memberEpoch } = consumer.groupMetadata();
  return { memberId, memberEpoch, t: Date.now() };
};
const told = (event) => (tps) => emit({ event, partitions: tps.map((tp) => tp.partition), ...member() });
consumer.subscribe([values.input], {
  onPartitionsAssigned: told('assigned'),
  onPartitionsRevoked: told('revoked'),
  onPartitionsLost: told('lost'),
});
emit({ event: 'started', pid: process.pid });

let txns = 0;
/** What the job is doing, in a status event every 2 s (to tell where a job that stopped making progress is). */
let phase = 'starting';
const status = setInterval(
  () =>
    emit({
      event: 'status',
      phase,
      assignment: consumer.assignment().map((tp) => tp.partition),
      ...consumer.groupMetadata(),
      t: Date.now(),
    }),
  2000,
);
status.unref();
/** One transaction: the chunk's records transformed to the output, and the offset after the chunk. */
async function processChunk(chunk) {
  const { partition } = chunk[0];
  const txn = `${values.name}-${process.pid}-${txns++}`;
  const from = chunk[0].offset;
  const to = chunk.at(-1).offset + 1;
  phase = `transaction ${txn} on ${partition} [${from}, ${to})`;
  try {
    await producer.transaction(async (tx) => {
      await Promise.all(
        chunk.map((m) =>
          tx.send({
            topic: values.output,
            partition,
            value: JSON.stringify({ txn, partition, offset: m.offset, value: m.value?.toString() }),
          }),
        ),
      );
      await tx.sendOffsets({ consumer, offsets: [{ topic: values.input, partition, offset: to }] });
      if (abortEvery > 0 && txns % abortEvery === 0) throw new Error('aborted on purpose');
    });
    emit({ event: 'committed', txn, partition, from, to, t: Date.now() });
    return true;
  } catch (err) {
    emit({ event: 'aborted', txn, partition, message: String(err?.message ?? err), t: Date.now() });
    return false;
  }
}

/**
 * After a failed transaction: back to the group's committed offset (stable: it waits for a pending
 * transaction to end), asked again until it answers or the partition is no longer this member's (its
 * next owner starts from the committed offset). Going on from the position instead would skip the
 * failed transaction's records.
 */
async function rewind(partition) {
  const owned = () => consumer.assignment().some((tp) => tp.partition === partition);
  while (owned() && !abort.signal.aborted) {
    phase = `rewinding ${partition}`;
    try {
      const [c] = await consumer.committed([{ topic: values.input, partition }]);
      consumer.seek({ topic: values.input, partition, offset: Math.max(0, c.offset) });
      return;
    } catch (err) {
      emit({ event: 'rewind-failed', partition, message: String(err?.message ?? err) });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

try {
  phase = 'waiting for records';
  for await (const batch of consumer.batches({ signal: abort.signal })) {
    const { partition, messages } = batch;
    emit({ event: 'batch', partition, from: messages[0].offset, to: messages.at(-1).offset + 1, ...member() });
    for (let i = 0; i < batch.messages.length; i += maxRecords) {
      if (!(await processChunk(batch.messages.slice(i, i + maxRecords)))) {
        await rewind(batch.partition);
        break;
      }
    }
    phase = 'waiting for records';
  }
} catch (err) {
  if (!abort.signal.aborted) {
    emit({ event: 'error', message: String(err?.message ?? err) });
    process.exitCode = 1;
  }
}
await samsa.close();
emit({ event: 'closed' });
