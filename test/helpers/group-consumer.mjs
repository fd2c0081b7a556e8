/**
 * A consumer group member in a process of its own, for tests that SIGKILL or restart it. Runs the
 * built SDK (packages/client/dist). Every event is one JSON line on stdout:
 *   {"event":"assigned"|"revoked"|"lost","partitions":[0,1]}
 *   {"event":"record","partition":0,"offset":5,"value":"..."}   after the record is processed
 *   {"event":"committed","partition":0,"offset":6}            after its commit was acknowledged
 * Processing is printing; with --commit each (default) every record is committed right after it is
 * processed (at least once: a kill between the two re-delivers only that record). SIGTERM closes
 * the consumer (final commit, leave) and exits 0.
 *
 * node test/helpers/group-consumer.mjs --bootstrap H:P[,...] --topic T --group G
 *   [--instance ID] [--session-timeout-ms N] [--commit each|auto]
 */
import { parseArgs } from 'node:util';
import { Samsa } from '@samsa/client';

const { values } = parseArgs({
  options: {
    bootstrap: { type: 'string' },
    topic: { type: 'string' },
    group: { type: 'string' },
    instance: { type: 'string' },
    'session-timeout-ms': { type: 'string', default: '6000' },
    commit: { type: 'string', default: 'each' },
  },
});

const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const numbers = (tps) => tps.map((tp) => tp.partition).sort((a, b) => a - b);

const samsa = new Samsa({
  brokers: values.bootstrap.split(','),
  clientId: `group-consumer-${process.pid}`,
  retry: { retries: 10, initialRetryTimeMs: 50, maxRetryTimeMs: 500 },
});
const consumer = samsa.consumer({
  groupId: values.group,
  groupInstanceId: values.instance,
  autoOffsetReset: 'earliest',
  maxWaitMs: 100,
  sessionTimeoutMs: Number(values['session-timeout-ms']),
  enableAutoCommit: values.commit === 'auto',
  autoCommitIntervalMs: 200,
});
const abort = new AbortController();
process.once('SIGTERM', () => abort.abort());

consumer.subscribe([values.topic], {
  onPartitionsAssigned: (tps) => emit({ event: 'assigned', partitions: numbers(tps) }),
  onPartitionsRevoked: (tps) => emit({ event: 'revoked', partitions: numbers(tps) }),
  onPartitionsLost: (tps) => emit({ event: 'lost', partitions: numbers(tps) }),
});
emit({ event: 'subscribed', pid: process.pid });

try {
  for await (const m of consumer.messages({ signal: abort.signal })) {
    emit({ event: 'record', partition: m.partition, offset: m.offset, value: m.value?.toString() });
    if (values.commit === 'each') {
      const offset = m.offset + 1;
      try {
        await consumer.commit([{ topic: m.topic, partition: m.partition, offset }]);
        emit({ event: 'committed', partition: m.partition, offset });
      } catch (err) {
        // The partition was taken away meanwhile (lost): its next owner starts at the last commit.
        emit({ event: 'commit-failed', partition: m.partition, offset, message: String(err?.message ?? err) });
      }
    }
  }
} catch (err) {
  if (!abort.signal.aborted) {
    emit({ event: 'error', message: String(err?.message ?? err) });
    process.exitCode = 1;
  }
}
await samsa.close();
emit({ event: 'closed' });
