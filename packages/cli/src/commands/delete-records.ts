import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { DeletedRecords, RecordsToDelete } from '@samsa/client';
import { CliError } from '../errors.js';
import { connect, withBootstrap } from '../connect.js';
import { parseIntOption } from '../options.js';

interface DeleteRecordsOptions {
  bootstrapServer: string;
  offsetJsonFile?: string;
  topic?: string;
  partition?: number;
  offset?: number;
  timeoutMs?: number;
}

/**
 * Kafka's kafka-delete-records.sh offset file: {"partitions": [{"topic": "t", "partition": 0,
 * "offset": 10}], "version": 1}; offset -1 means the high watermark. A partition listed twice is
 * refused, as Kafka's tool does.
 */
export function parseOffsetJson(text: string, source: string): RecordsToDelete[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new CliError(`${source} is not JSON: ${(cause as Error).message}`, 2);
  }
  const partitions = (value as { partitions?: unknown } | null)?.partitions;
  if (!Array.isArray(partitions))
    throw new CliError(
      `${source}: expected {"partitions":[{"topic":...,"partition":...,"offset":...}],"version":1}`,
      2,
    );
  const seen = new Set<string>();
  return partitions.map((p: Partial<RecordsToDelete> | null) => {
    const ok =
      typeof p?.topic === 'string' &&
      Number.isSafeInteger(p.partition) &&
      p.partition! >= 0 &&
      Number.isSafeInteger(p.offset) &&
      p.offset! >= -1;
    if (!ok)
      throw new CliError(
        `${source}: each entry needs a topic, a partition and an offset (>= -1): ${JSON.stringify(p)}`,
        2,
      );
    const key = `${p.topic}-${p.partition}`;
    if (seen.has(key)) throw new CliError(`${source}: partition ${key} is listed twice`, 2);
    seen.add(key);
    return { topic: p.topic!, partition: p.partition!, offset: p.offset! };
  });
}

/** Kafka's output: one line per partition, its low watermark or its error. */
export function formatDeletion(results: readonly DeletedRecords[]): { lines: string[]; failed: number } {
  const lines = ['Records delete operation completed:'];
  for (const r of results) {
    const name = `${r.topic}-${r.partition}`;
    lines.push(
      r.error
        ? `partition: ${name}\terror: ${r.error.message}`
        : `partition: ${name}\tlow_watermark: ${r.lowWatermark}`,
    );
  }
  return { lines, failed: results.filter((r) => r.error).length };
}

async function targetsOf(o: DeleteRecordsOptions): Promise<RecordsToDelete[] | { topic: string; offset: number }> {
  const simple = o.topic !== undefined || o.partition !== undefined || o.offset !== undefined;
  if (o.offsetJsonFile !== undefined) {
    if (simple) throw new CliError('give either --offset-json-file or --topic/--partition/--offset, not both', 2);
    const file = o.offsetJsonFile;
    const text = await readFile(file, 'utf8').catch((err: Error) => {
      throw new CliError(`cannot read ${file}: ${err.message}`, 2);
    });
    return parseOffsetJson(text, file);
  }
  if (o.topic === undefined || o.offset === undefined)
    throw new CliError('name the records: --offset-json-file F, or --topic T [--partition P] --offset N', 2);
  if (o.partition === undefined) return { topic: o.topic, offset: o.offset };
  return [{ topic: o.topic, partition: o.partition, offset: o.offset }];
}

export function registerDeleteRecords(program: Command): void {
  withBootstrap(program.command('delete-records'))
    .description('delete the records below an offset of partitions, on every replica (like kafka-delete-records)')
    .option('--offset-json-file <file>', 'Kafka\'s format: {"partitions":[{"topic":"t","partition":0,"offset":10}]}')
    .option('--topic <name>', 'the topic (instead of a file)')
    .option(
      '--partition <n>',
      'one partition of --topic (default: every one)',
      parseIntOption('--partition', 0, 2 ** 31 - 1),
    )
    .option(
      '--offset <n>',
      'delete the records below it; -1: everything committed',
      parseIntOption('--offset', -1, 2 ** 53 - 1),
    )
    .option('--timeout-ms <ms>', 'how long to wait for the replicas', parseIntOption('--timeout-ms', 0, 2 ** 31 - 1))
    .action(async (o: DeleteRecordsOptions) => {
      const wanted = await targetsOf(o);
      await using samsa = await connect(o.bootstrapServer);
      const admin = samsa.admin();
      const targets = Array.isArray(wanted)
        ? wanted
        : (await admin.describeTopics([wanted.topic]))[0]!.partitions.map((p) => ({
            topic: wanted.topic,
            partition: p.partition,
            offset: wanted.offset,
          }));
      process.stdout.write('Executing records delete operation\n');
      const options = o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs };
      const { lines, failed } = formatDeletion(await admin.deleteRecords(targets, options));
      process.stdout.write(`${lines.join('\n')}\n`);
      if (failed > 0) throw new CliError(`deleting records failed for ${failed} partition${failed === 1 ? '' : 's'}`);
    });
}
