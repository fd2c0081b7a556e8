import type { Command } from 'commander';
import { registerDev } from './dev.js';
import { registerServers } from './servers.js';

/**
 * Every command group registers itself here; each lives in its own module under commands/ and
 * stays thin: parse options, call into client, broker or coordinator, print.
 */
export function registerCommands(program: Command): void {
  registerDev(program);
  registerServers(program);
}
