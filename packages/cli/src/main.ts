#!/usr/bin/env node
import { enableCompileCache } from 'node:module';
import { exitQuietlyOnBrokenPipe } from './pipes.js';
import { applyV8Flags } from './v8-flags.js';

// V8's compiled code of the modules a command loads is kept on disk (NODE_COMPILE_CACHE, else
// <tmpdir>/node-compile-cache; NODE_DISABLE_COMPILE_CACHE=1 turns it off) and reused by the next run:
// loading the SDK is most of a short command's start-up. It never throws; a cache it cannot write is
// only slower. The program is imported after it, so that the cache covers it.
enableCompileCache();
exitQuietlyOnBrokenPipe();
try {
  applyV8Flags();
  const { runCli } = await import('./cli.js');
  process.exitCode = await runCli(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`samsa: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}
