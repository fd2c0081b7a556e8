import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { Acks, CompressionName, ConsumedMessage, Consumer, Logger, Samsa } from '@samsa/client';
import { bootstrapBrokers, checkTopicName, connect, withBootstrap } from '../connect.js';
import { CliError } from '../errors.js';
import { MAX_PARTITIONS_PER_TOPIC, parseIntOption } from '../options.js';
import { lookUpTopic } from '../topic-lookup.js';
import {
  COMPRESSIONS,
  PRODUCER_PROPERTIES,
  collectProducerProperty,
  producerOptionsFrom,
} from './producer-properties.js';

/** Sends still waiting for acknowledgement before the reader pauses; the producer bounds memory too. */
const MAX_PENDING_SENDS = 10_000;

export function parseAcks(value: string): Acks {
  if (value === 'all' || value === '-1') return 'all';
  if (value === '0' || value === '1') return Number(value) as Acks;
  throw new CliError(`--acks must be 0, 1 or all, not '${value}'`, 2);
}

function parseCompression(value: string): CompressionName {
  if (!(COMPRESSIONS as readonly string[]).includes(value))
    throw new CliError(`--compression must be one of ${COMPRESSIONS.join(', ')}, not '${value}'`, 2);
  return value as CompressionName;
}

export function registerConsole(program: Command): void {
  withBootstrap(program.command('produce'))
    .description('send each line of standard input as one record')
    .requiredOption('--topic <name>', 'topic to write to')
    .option('--key-separator <s>', 'split each line at the first <s> into key and value')
    .option('--acks <0|1|all>', 'acknowledgement to wait for (default: all)', parseAcks)
    .option(
      '--partition <n>',
      'write every record to this partition',
      parseIntOption('--partition', 0, MAX_PARTITIONS_PER_TOPIC - 1),
    )
    .option('--compression <codec>', 'none, gzip, snappy, lz4 or zstd (default: none)', parseCompression)
    .option(
      '--producer-property <key=value>',
      'a producer setting by its Kafka name, e.g. max.request.size=4194304 (repeatable; the names are below)',
      collectProducerProperty,
    )
    .addHelpText('after', `\nProducer properties (Kafka's names):\n  ${Object.keys(PRODUCER_PROPERTIES).join(', ')}`)
    .action(
      async (o: {
        topic: string;
        keySeparator?: string;
        acks?: Acks;
        partition?: number;
        compression?: CompressionName;
        producerProperty?: string[];
        bootstrapServer: string;
      }) => {
        await checkTopicName(o.topic);
        // The flags win over the same setting given as a property, as in Kafka's console producer.
        const options = producerOptionsFrom(o.producerProperty ?? []);
        await using samsa = await connect(o.bootstrapServer, 'samsa-console-producer', retryNotices());
        await requireTopic(samsa, o, undefined, false);
        const producer = samsa.producer({
          ...options,
          acks: o.acks ?? options.acks ?? 'all',
          compression: o.compression ?? options.compression ?? 'none',
        });
        const failures: string[] = [];
        let failed = 0;
        let lineNo = 0;
        const pending = new Set<Promise<unknown>>();
        const watchdog = leaderWatchdog(
          samsa,
          o.topic,
          o.partition,
          () => pending.size > 0,
          'its records wait until delivery.timeout.ms',
        );
        for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
          lineNo++;
          let key: string | null = null;
          let value = line;
          if (o.keySeparator !== undefined) {
            const at = line.indexOf(o.keySeparator);
            if (at < 0) throw new CliError(`line ${lineNo} has no key separator '${o.keySeparator}'`);
            key = line.slice(0, at);
            value = line.slice(at + o.keySeparator.length);
          }
          const at = lineNo;
          const sent = producer
            .send({ topic: o.topic, key, value, ...(o.partition !== undefined ? { partition: o.partition } : {}) })
            .catch((err: unknown) => {
              failed++;
              if (failures.length < 10)
                failures.push(`line ${at}: ${err instanceof Error ? err.message : String(err)}`);
            });
          pending.add(sent);
          void sent.finally(() => pending.delete(sent));
          if (pending.size >= MAX_PENDING_SENDS) await Promise.race(pending);
        }
        try {
          await Promise.all(pending);
        } finally {
          clearInterval(watchdog);
        }
        await producer.close();
        if (failed > 0) {
          const more = failed > failures.length ? `\n  ... and ${failed - failures.length} more` : '';
          throw new CliError(`${failed} of ${lineNo} records failed:\n  ${failures.join('\n  ')}${more}`);
        }
      },
    );

  withBootstrap(program.command('consume'))
    .description('print records as they arrive, one value per line')
    .requiredOption('--topic <name>', 'topic to read')
    .option(
      '--group <id>',
      'join this consumer group: share the partitions with its other members, ' +
        'start at its committed offsets, commit what was printed',
    )
    .option('--from-beginning', 'start at the earliest offset (default: only new records)')
    .option(
      '--partition <n>',
      'read only this partition',
      parseIntOption('--partition', 0, MAX_PARTITIONS_PER_TOPIC - 1),
    )
    .option('--offset <offset>', "with --partition: start here (a number, 'earliest' or 'latest')")
    .option(
      '--max-messages <n>',
      'exit after this many records',
      parseIntOption('--max-messages', 1, Number.MAX_SAFE_INTEGER),
    )
    .option(
      '--timeout-ms <ms>',
      'exit when no record arrives for this long',
      parseIntOption('--timeout-ms', 1, 2 ** 31 - 1),
    )
    .option('--print-key', 'print the key before the value')
    .option('--print-offset', 'print partition and offset before each record')
    .option('--key-separator <s>', 'between key and value with --print-key', '\t')
    .action(runConsole);
}

interface ConsumeOptions {
  topic: string;
  fromBeginning?: boolean;
  partition?: number;
  offset?: string;
  maxMessages?: number;
  timeoutMs?: number;
  printKey?: boolean;
  printOffset?: boolean;
  keySeparator: string;
  bootstrapServer: string;
  group?: string;
}

/**
 * While `waiting()`, says every 5 s on stderr which partitions of the topic have no leader (and which
 * replicas are offline, e.g. on a full disk), followed by `consequence`: the producer's records for
 * them wait until delivery.timeout.ms, the consumer reads nothing from them. Neither client says so
 * itself: it only learns "no leader" from metadata and waits.
 */
function leaderWatchdog(
  samsa: Samsa,
  topic: string,
  partition: number | undefined,
  waiting: () => boolean,
  consequence: string,
) {
  const timer = setInterval(() => {
    if (!waiting()) return;
    void samsa
      .admin()
      .describeTopics([topic])
      .then(([described]) => {
        for (const p of described?.partitions ?? []) {
          if (p.leader >= 0 || (partition !== undefined && p.partition !== partition)) continue;
          const offline = p.offlineReplicas.length > 0 ? ` (offline on broker ${p.offlineReplicas.join(', ')})` : '';
          process.stderr.write(`samsa: ${topic}-${p.partition} has no leader${offline}; ${consequence}\n`);
        }
      })
      .catch(() => undefined);
  }, 5000);
  timer.unref();
  return timer;
}

/**
 * A logger for the console producer that says on stderr, once per partition every 10 s, why sends
 * keep being retried (a full disk, no leader: the third attempt of a batch on), instead of waiting
 * silently until delivery.timeout.ms. A retry or two is routine (a leader moved) and says nothing.
 * Kafka's console producer prints its client's WARN lines the same way.
 */
function retryNotices(): Logger {
  const lastNoticeMs = new Map<string, number>();
  const noop = (): void => {};
  return {
    debug: noop,
    info: noop,
    error: noop,
    warn(context: object, message?: string) {
      if (message !== 'produce failed, will retry') return;
      const { topic, partition, err, attempts } = context as {
        topic?: string;
        partition?: number;
        err?: unknown;
        attempts?: number;
      };
      if ((attempts ?? 0) < 3) return;
      const where = `${topic}-${partition}`;
      const now = Date.now();
      if (now - (lastNoticeMs.get(where) ?? 0) < 10_000) return;
      lastNoticeMs.set(where, now);
      const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      process.stderr.write(`samsa: ${where}: ${reason}; retrying until delivery.timeout.ms\n`);
    },
  };
}

/**
 * The console consumer. --timeout-ms bounds everything after connecting, finding the topic
 * included: a topic being created or without a leader ends the command after that long, as an idle
 * topic does (one that does not exist and will not be created fails at once, requireTopic).
 */
async function runConsole(o: ConsumeOptions): Promise<void> {
  if (o.offset !== undefined && o.partition === undefined) throw new CliError('--offset needs --partition', 2);
  if (o.group !== undefined && o.partition !== undefined)
    throw new CliError('--group and --partition cannot be used together: the group assigns partitions', 2);
  await checkTopicName(o.topic);
  await using samsa = await connect(o.bootstrapServer, 'samsa-console-consumer');
  const abort = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  const armIdle = () => {
    if (o.timeoutMs === undefined) return;
    clearTimeout(idle);
    idle = setTimeout(() => abort.abort(), o.timeoutMs);
  };
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  armIdle();
  const watchdog = leaderWatchdog(samsa, o.topic, o.partition, () => true, 'nothing can be read from it now');
  try {
    const consumer = samsa.consumer({
      autoOffsetReset: o.fromBeginning ? 'earliest' : 'latest',
      ...(o.group !== undefined ? { groupId: o.group } : {}),
    });
    // In a group, --from-beginning applies where the group has no committed offset (as in Kafka).
    if (o.group !== undefined) {
      if ((await requireTopic(samsa, o, abort.signal)) === 'aborted') return;
      consumer.subscribe([o.topic]);
    } else if (!(await position(samsa, consumer, o, abort.signal))) return await failIfUnavailable(samsa, o);
    let count = 0;
    try {
      for await (const m of consumer.messages({ signal: abort.signal })) {
        process.stdout.write(formatMessage(m, o));
        armIdle();
        if (o.maxMessages !== undefined && ++count >= o.maxMessages) break;
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
      // Ended by --timeout-ms with nothing read: an unreadable partition is an error, not an empty topic.
      if (count === 0) await failIfUnavailable(samsa, o);
    }
    // Everything printed counts as consumed, the last record too (auto-commit leaves the one in
    // hand when the loop stops); closing the client then leaves the group.
    if (o.group !== undefined) await consumer.commit();
  } finally {
    clearInterval(watchdog);
    clearTimeout(idle);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/**
 * Assigns the topic and seeks; false when `signal` ended the wait. The topic must exist or be created
 * by the brokers on first use (requireTopic).
 */
async function position(samsa: Samsa, consumer: Consumer, o: ConsumeOptions, signal: AbortSignal): Promise<boolean> {
  if ((await requireTopic(samsa, o, signal)) === 'aborted') return false;
  try {
    await consumer.assign(
      [o.partition !== undefined ? { topic: o.topic, partition: o.partition } : { topic: o.topic }],
      {
        signal,
      },
    );
    if (o.offset !== undefined) await untilAborted(seekTo(consumer, o.topic, o.partition!, o.offset), signal);
  } catch (err) {
    if (!signal.aborted) throw err;
    return false;
  }
  return true;
}

/**
 * Makes sure the topic exists before a command uses it, with one Metadata request that lets the brokers
 * create it (lookUpTopic). Fails at once, in one line naming the topic, when it does not exist and the
 * brokers do not create topics on use (auto.create.topics.enable=false: their answer is
 * UnknownTopicOrPartition), where the SDK would wait up to default.api.timeout.ms (60 s) and the console
 * consumer for ever, as Kafka's clients do for a topic that may be being created; and when `partition` is
 * past the topic's partitions, naming their count. When the brokers create it, waits for its metadata and
 * says so on stderr (when `announceCreation`: the consumer, so that a mistyped name does not pass for an
 * empty topic). 'aborted' when `signal` ended that wait.
 */
async function requireTopic(
  samsa: Samsa,
  o: { topic: string; partition?: number; bootstrapServer: string },
  signal?: AbortSignal,
  announceCreation = true,
): Promise<'ready' | 'aborted'> {
  const found = await lookUpTopic(bootstrapBrokers(o.bootstrapServer), o.topic, signal);
  if (found === 'aborted') return 'aborted';
  if (found.state === 'unknown') {
    throw new CliError(
      `UnknownTopicOrPartition: unknown topic ${o.topic}: it does not exist, and the brokers do not create ` +
        'topics on use (auto.create.topics.enable=false)',
    );
  }
  let partitions = found.state === 'exists' ? found.partitions : undefined;
  if (partitions === undefined) {
    partitions = await createdTopicPartitions(samsa, o.topic, signal);
    if (partitions === undefined) return 'aborted';
    if (announceCreation) {
      process.stderr.write(
        `samsa: topic '${o.topic}' did not exist; the brokers created it with ${partitions} ` +
          `partition${partitions === 1 ? '' : 's'} (auto.create.topics.enable)\n`,
      );
    }
  }
  if (o.partition !== undefined && o.partition >= partitions) {
    throw new CliError(
      `UnknownTopicOrPartition: topic ${o.topic} has ${partitions} partition${partitions === 1 ? '' : 's'} ` +
        `(0 to ${partitions - 1}); there is no partition ${o.partition}`,
    );
  }
  return 'ready';
}

/**
 * The partition count of a topic the brokers have just created, once its metadata has reached them (the
 * SDK's lookup waits for that, up to default.api.timeout.ms); undefined when `signal` ended the wait.
 */
async function createdTopicPartitions(samsa: Samsa, topic: string, signal?: AbortSignal): Promise<number | undefined> {
  const probe = samsa.consumer();
  try {
    await probe.assign([{ topic }], signal ? { signal } : {});
    return probe.assignment().length;
  } catch (err) {
    if (signal?.aborted) return undefined;
    throw err;
  } finally {
    await probe.close();
  }
}

/**
 * Throws when a partition the command reads has no leader now (every in-sync replica is down or has
 * its log offline, e.g. on a full disk), naming the replicas that are offline: the records are on
 * disk but no broker can serve them, which an empty exit would hide.
 */
async function failIfUnavailable(samsa: Samsa, o: ConsumeOptions): Promise<void> {
  const described = await samsa
    .admin()
    .describeTopics([o.topic])
    .catch(() => []);
  const partitions = (described[0]?.partitions ?? []).filter(
    (p) => o.partition === undefined || p.partition === o.partition,
  );
  const down = partitions.filter((p) => p.leader < 0);
  if (down.length === 0) return;
  const detail = down
    .map((p) => {
      const offline = p.offlineReplicas.length > 0 ? `offline on broker ${p.offlineReplicas.join(', ')}` : 'no replica';
      return `${o.topic}-${p.partition} (${offline})`;
    })
    .join(', ');
  throw new CliError(
    `LeaderNotAvailable: no broker can serve ${detail}: its records are unreadable until a replica is back ` +
      '(see samsa topics describe)',
  );
}

/** `work`, or an AbortError as soon as `signal` aborts (the work itself ends when the client closes). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function seekTo(consumer: Consumer, topic: string, partition: number, offset: string): Promise<void> {
  const tp = { topic, partition };
  if (offset === 'earliest') await consumer.seekToBeginning([tp]);
  else if (offset === 'latest') await consumer.seekToEnd([tp]);
  else if (/^\d+$/.test(offset)) consumer.seek({ ...tp, offset: Number(offset) });
  else throw new CliError(`--offset must be a number, 'earliest' or 'latest', not '${offset}'`, 2);
}

function formatMessage(
  m: ConsumedMessage,
  o: { printKey?: boolean; printOffset?: boolean; keySeparator: string },
): string {
  const prefix = o.printOffset ? `${m.partition}:${m.offset}\t` : '';
  const key = o.printKey ? `${m.key === null ? 'null' : m.key.toString()}${o.keySeparator}` : '';
  return `${prefix}${key}${m.value === null ? 'null' : m.value.toString()}\n`;
}
