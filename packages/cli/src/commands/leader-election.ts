import type { Command } from 'commander';
import type { ElectionOutcome, ElectionTarget } from '@samsa/client';
import { CliError } from '../errors.js';
import { connect, withBootstrap } from '../connect.js';
import { parseIntOption } from '../options.js';

interface LeaderElectionOptions {
  electionType: string;
  topic?: string;
  partition?: number;
  allTopicPartitions?: boolean;
  bootstrapServer: string;
}

/** The targets the options name, or a usage error (exit code 2) when they do not name exactly one set. */
export function electionTargets(o: Omit<LeaderElectionOptions, 'bootstrapServer'>): ElectionTarget[] {
  if (o.electionType.toLowerCase() !== 'preferred') {
    throw new CliError(
      `--election-type must be preferred, not '${o.electionType}' (unclean ` +
        `elections follow the topic's unclean.leader.election.enable)`,
      2,
    );
  }
  if (o.partition !== undefined && o.topic === undefined) throw new CliError('--partition needs --topic', 2);
  if (o.allTopicPartitions && o.topic !== undefined)
    throw new CliError('give either --all-topic-partitions or --topic, not both', 2);
  if (!o.allTopicPartitions && o.topic === undefined)
    throw new CliError('name the partitions: --all-topic-partitions, or --topic (with --partition for one)', 2);
  if (o.allTopicPartitions) return [];
  return [{ topic: o.topic!, ...(o.partition !== undefined ? { partitions: [o.partition] } : {}) }];
}

/** Kafka's kafka-leader-election output: the elected, the already elected, then one line per failure. */
export function formatElection(outcomes: readonly ElectionOutcome[]): { lines: string[]; failed: number } {
  const name = (o: ElectionOutcome): string => (o.partition < 0 ? o.topic : `${o.topic}-${o.partition}`);
  const elected = outcomes.filter((o) => !o.error).map(name);
  // By the error's Kafka name, not its code: the error table would load the SDK with this module.
  const notNeeded = outcomes.filter((o) => o.error?.errorName === 'ElectionNotNeeded').map(name);
  const failures = outcomes.filter((o) => o.error && o.error.errorName !== 'ElectionNotNeeded');
  const lines: string[] = [];
  if (elected.length > 0)
    lines.push(`Successfully completed leader election (PREFERRED) for partitions ${elected.join(', ')}`);
  if (notNeeded.length > 0) lines.push(`Valid replica already elected for partitions ${notNeeded.join(', ')}`);
  for (const f of failures)
    lines.push(`Error completing leader election (PREFERRED) for partition ${name(f)}: ${f.error!.message}`);
  if (outcomes.length === 0) lines.push('No partitions to elect leaders for.');
  return { lines, failed: failures.length };
}

export function registerLeaderElection(program: Command): void {
  withBootstrap(program.command('leader-election'))
    .description('move leadership back to preferred replicas (like kafka-leader-election --election-type PREFERRED)')
    .requiredOption(
      '--election-type <type>',
      "preferred: each partition's first replica leads again if it is alive and in sync",
    )
    .option('--topic <name>', "only this topic's partitions")
    .option('--partition <n>', 'only this partition of --topic', parseIntOption('--partition', 0, 2 ** 31 - 1))
    .option('--all-topic-partitions', 'every partition in the cluster')
    .action(async (o: LeaderElectionOptions) => {
      const targets = electionTargets(o);
      await using samsa = await connect(o.bootstrapServer);
      const { lines, failed } = formatElection(await samsa.admin().electPreferredLeaders(targets));
      process.stdout.write(`${lines.join('\n')}\n`);
      if (failed > 0) throw new CliError(`leader election failed for ${failed} partition${failed === 1 ? '' : 's'}`);
    });
}
