import type { Command } from 'commander';
import { registerBench } from './bench.js';
import { registerConfigs } from './configs.js';
import { registerConsole } from './console.js';
import { registerConsumerGroups } from './consumer-groups.js';
import { registerDeleteRecords } from './delete-records.js';
import { registerDev } from './dev.js';
import { registerLeaderElection } from './leader-election.js';
import { registerReassign } from './reassign.js';
import { registerLog } from './log.js';
import { registerServers } from './servers.js';
import { registerTopics } from './topics.js';
import { registerTransactions } from './transactions.js';

/**
 * Every command group registers itself here; each lives in its own module under commands/ and
 * stays thin: parse options, call into client, broker or coordinator, print. Registering imports no
 * other package: an action imports the client, broker or coordinator when it runs, so that a command
 * starts without loading the code of the others (test/lazy-loading.test.ts).
 */
export function registerCommands(program: Command): void {
  registerDev(program);
  registerServers(program);
  registerTopics(program);
  registerConfigs(program);
  registerDeleteRecords(program);
  registerLeaderElection(program);
  registerReassign(program);
  registerConsole(program);
  registerConsumerGroups(program);
  registerTransactions(program);
  registerLog(program);
  registerBench(program);
}
