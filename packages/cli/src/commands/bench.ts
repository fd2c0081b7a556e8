import { tmpdir } from 'node:os';
import type { Command } from 'commander';
import { formatStorageBenchmark, runStorageBenchmark } from '@samsa/broker';
import { parseIntOption } from '../options.js';
import { progress } from '../progress.js';
import { registerClientBench } from './bench-client.js';

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
