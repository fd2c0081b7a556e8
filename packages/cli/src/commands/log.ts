import type { Command } from 'commander';
import { CliError } from '../errors.js';

export function registerLog(program: Command): void {
  const log = program.command('log').description('inspect partition logs on disk');
  log
    .command('dump <path>')
    .description(
      'one line per record batch of a .log segment file or of every ' +
        'segment in a partition directory (like kafka-dump-log)',
    )
    .option('--print-records', 'also print each record: offset, timestamp, key, value, headers')
    .option('--no-verify-crc', 'skip the CRC-32C check')
    .action(async (path: string, o: { printRecords?: boolean; verifyCrc: boolean }) => {
      const { dumpSegment, formatDumpedBatch } = await import('@samsa/broker');
      let batches = 0;
      let records = 0;
      let problems = 0;
      try {
        for await (const entry of dumpSegment(path, {
          printRecords: o.printRecords ?? false,
          verifyCrc: o.verifyCrc,
        })) {
          process.stdout.write(`${formatDumpedBatch(entry)}\n`);
          if (entry.kind === 'error') problems++;
          else {
            batches++;
            records += entry.count;
            if (entry.crcValid === false || entry.recordsError !== undefined) problems++;
          }
        }
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw new CliError(`no such file or directory: ${path}`);
        throw err;
      }
      process.stdout.write(`${batches} batches, ${records} records\n`);
      // A dump that found corruption fails, so scripts can check a log with the exit code.
      if (problems > 0)
        throw new CliError(`${problems} problem(s) found in ${path} (see the ERROR and crcValid: false lines above)`);
    });
}
