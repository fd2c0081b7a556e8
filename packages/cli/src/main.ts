#!/usr/bin/env node
import { runCli } from './cli.js';
import { exitQuietlyOnBrokenPipe } from './pipes.js';
import { applyV8Flags } from './v8-flags.js';

exitQuietlyOnBrokenPipe();
try {
  applyV8Flags();
  process.exitCode = await runCli(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`samsa: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}
