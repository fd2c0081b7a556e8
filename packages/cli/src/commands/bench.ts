import { tmpdir } from 'node:os';
import type { Command } from 'commander';
import { parseIntOption } from '../options.js';
import type { Acks } from '@samsa/client';
import { withBootstrap } from '../connect.js';
import { CliError } from '../errors.js';
import type { EndToEndBenchOptions, ProduceBenchFigures, ProduceBenchOptions } from './bench-client.js';
import { parseAcks } from './console.js';
import { collectProducerProperty } from './producer-properties.js';

/**
 * The bench commands' names and options; their code (bench-client.ts with hdr-histogram, the broker's
 * storage benchmark) is imported when one runs.
 */
export function registerBench(program: Command): void {
  const bench = program.command('bench').description('measure throughput and latency');
  bench
    .command('storage')
    .description('partition log append and read throughput, next to raw sequential writes of the same disk')
    .option('--dir <dir>', 'a directory on the disk to measure', tmpdir())
    .option('--num-records <n>', 'records per round', parseIntOption('--num-records', 1000, 100_000_000), 1_000_000)
    .option('--record-size <bytes>', 'value bytes per record', parseIntOption('--record-size', 1, 1_000_000), 100)
    .option('--batch-size <n>', 'records per batch', parseIntOption('--batch-size', 1, 100_000), 1000)
    .option('--rounds <n>', 'rounds; the median is reported', parseIntOption('--rounds', 1, 50), 5)
    .action(async (o: { dir: string; numRecords: number; recordSize: number; batchSize: number; rounds: number }) => {
      const { formatStorageBenchmark, runStorageBenchmark } = await import('@samsa/broker');
      const { progress } = await import('../progress.js');
      const bar = progress('bench storage');
      const result = await runStorageBenchmark({
        dir: o.dir,
        records: o.numRecords,
        recordSize: o.recordSize,
        batchSize: o.batchSize,
        rounds: o.rounds,
        onProgress: ({ phase, done, total }) => bar.update(done, total, phase),
      }).finally(() => bar.stop());
      process.stdout.write(`${formatStorageBenchmark(result).join('\n')}\n`);
    });
  registerClientBench(bench);
}

function registerClientBench(bench: Command): void {
  producerOptions(withBootstrap(bench.command('produce')))
    .description('producer throughput and per-record latency (like kafka-producer-perf-test)')
    .requiredOption('--topic <name>', 'topic to write to (created with the broker defaults if missing)')
    .option('--compression <codec>', 'none, gzip, snappy, lz4 or zstd', 'none')
    .option(
      '--burst <records>',
      'pace whole calls of this many records instead of single records ' +
        '(the old method: a record also waits for its burst)',
      parseIntOption('--burst', 1, 1_000_000),
    )
    .option('--one-at-a-time', 'send one record, wait for its acknowledgement, then the next')
    .option('--json', 'print the figures as JSON')
    .action(async (o: ProduceBenchOptions & { json?: boolean }) => {
      checkWarmup(o);
      if (o.burst !== undefined && o.oneAtATime)
        throw new CliError('--burst and --one-at-a-time exclude each other', 2);
      const { benchProduce } = await import('./bench-client.js');
      await printFigures(await benchProduce(o), 'sent', o);
    });

  producerOptions(withBootstrap(bench.command('end-to-end')))
    .description(
      'time from send to a consumer receiving each record, producer and consumer in one process ' +
        "(like Kafka's EndToEndLatency)",
    )
    .requiredOption('--topic <name>', 'topic to write to and read from (created with the broker defaults if missing)')
    .option('--one-at-a-time', 'send one record, wait until the consumer has it, then the next')
    .option(
      '--timeout-ms <ms>',
      'give up when records are still missing this long after the last was acknowledged',
      parseIntOption('--timeout-ms', 1, 2 ** 31 - 1),
      30_000,
    )
    .option('--json', 'print the figures as JSON')
    .action(async (o: EndToEndBenchOptions & { json?: boolean }) => {
      checkWarmup(o);
      const { benchEndToEnd } = await import('./bench-client.js');
      await printFigures(await benchEndToEnd(o), 'received', o);
    });

  withBootstrap(bench.command('consume'))
    .description('consumer throughput from the beginning of a topic (like kafka-consumer-perf-test)')
    .requiredOption('--topic <name>', 'topic to read')
    .option(
      '--num-records <n>',
      'records to read',
      parseIntOption('--num-records', 1, Number.MAX_SAFE_INTEGER),
      1_000_000,
    )
    .option('--timeout-ms <ms>', 'give up after this long', parseIntOption('--timeout-ms', 1, 2 ** 31 - 1), 120_000)
    .option('--json', 'print the figures as JSON')
    .action(
      async (o: { topic: string; numRecords: number; timeoutMs: number; bootstrapServer: string; json?: boolean }) => {
        const { benchConsume, formatFigures } = await import('./bench-client.js');
        const result = await benchConsume(o);
        process.stdout.write(o.json ? `${JSON.stringify(result)}\n` : `${formatFigures('consumed', result)}\n`);
      },
    );
}

/** The options bench produce and bench end-to-end share. */
function producerOptions(command: Command): Command {
  return command
    .option(
      '--num-records <n>',
      'records to send',
      parseIntOption('--num-records', 1, Number.MAX_SAFE_INTEGER),
      1_000_000,
    )
    .option('--record-size <bytes>', 'value bytes per record', parseIntOption('--record-size', 0, 10_000_000), 100)
    .option('--acks <0|1|all>', 'acknowledgement to wait for', parseAcks, 1 as Acks)
    .option('--batch-size <bytes>', 'producer batch.size', parseIntOption('--batch-size', 1, 64 * 1024 * 1024), 262_144)
    .option(
      '--linger-ms <ms>',
      "producer linger.ms (default: the producer's, 0)",
      parseIntOption('--linger-ms', 0, 60_000),
    )
    .option(
      '--throughput <n>',
      'records/s to aim for, paced record by record; -1 for as fast as possible',
      (v) => Number(v),
      -1,
    )
    .option(
      '--warmup-records <n>',
      "records at the start left out of the steady-state figures (printed after the whole run's)",
      parseIntOption('--warmup-records', 0, Number.MAX_SAFE_INTEGER),
      0,
    )
    .option(
      '--producer-property <key=value>',
      'a producer setting by its Kafka name, e.g. enable.idempotence=false (repeatable; as samsa produce)',
      collectProducerProperty,
    );
}

function checkWarmup(o: { warmupRecords: number; numRecords: number }): void {
  if (o.warmupRecords >= o.numRecords)
    throw new CliError(`--warmup-records (${o.warmupRecords}) must be less than --num-records (${o.numRecords})`, 2);
}

async function printFigures(
  result: ProduceBenchFigures,
  what: string,
  o: { json?: boolean; warmupRecords: number },
): Promise<void> {
  const { formatFigures } = await import('./bench-client.js');
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stdout.write(`${formatFigures(what, result)}\n`);
  if (result.steadyState)
    process.stdout.write(
      `steady state after ${o.warmupRecords} warm-up records: ${formatFigures(what, result.steadyState)}\n`,
    );
}
