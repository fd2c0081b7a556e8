import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { checkTopicName, connect, withBootstrap } from '../connect.js';

/**
 * Splits Kafka's `--add-config k1=v1,k2=[a,b]` (square brackets keep commas inside a list value, as
 * in kafka-configs.sh) into names and values.
 */
export function parseAddConfig(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of splitOutsideBrackets(text)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError(`--add-config expects KEY=VALUE[,KEY=VALUE...], not '${pair}'`, 2);
    const value = pair.slice(eq + 1).trim();
    out[pair.slice(0, eq).trim()] = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  }
  return out;
}

function splitOutsideBrackets(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = text[i];
    if (c === '[') depth++;
    else if (c === ']') depth = Math.max(0, depth - 1);
    else if (i === text.length || (c === ',' && depth === 0)) {
      const part = text.slice(start, i).trim();
      if (part !== '') parts.push(part);
      start = i + 1;
    }
  }
  return parts;
}

interface ConfigsOptions {
  alter?: boolean;
  describe?: boolean;
  entityType?: string;
  entityName?: string;
  addConfig?: string;
  deleteConfig?: string;
  bootstrapServer: string;
}

/** Kafka's kafka-configs.sh for topics: --describe shows a topic's own configs, --alter changes them. */
export function registerConfigs(program: Command): void {
  withBootstrap(program.command('configs'))
    .description(
      "show or change topics' configs (kafka-configs.sh): --describe, or --alter with --add-config/--delete-config",
    )
    .option('--alter', 'change the configs of --entity-name')
    .option('--describe', "show the topic's own configs (all topics when --entity-name is left out)")
    .option('--entity-type <type>', 'topics (the only entity type served)', 'topics')
    .option('--entity-name <name>', 'the topic')
    .option('--add-config <k=v,...>', 'configs to set, e.g. retention.ms=3600000,cleanup.policy=[compact,delete]')
    .option('--delete-config <k,...>', 'configs to return to the broker default')
    .action(async (o: ConfigsOptions) => {
      if (o.entityType !== 'topics' && o.entityType !== 'topic')
        throw new CliError(`--entity-type ${o.entityType} is not served (only topics)`, 2);
      if (o.alter === o.describe) throw new CliError('give exactly one of --alter and --describe', 2);
      if (o.entityName !== undefined) await checkTopicName(o.entityName);
      if (o.alter) return alter(o);
      await using samsa = await connect(o.bootstrapServer);
      const admin = samsa.admin();
      const names = o.entityName !== undefined ? [o.entityName] : await admin.listTopics();
      for (const topic of names.length > 0 ? await admin.describeTopics(names) : []) {
        process.stdout.write(`Dynamic configs for topic ${topic.name} are:\n`);
        for (const [k, v] of Object.entries(topic.configs).sort()) process.stdout.write(`  ${k}=${v}\n`);
      }
    });
}

async function alter(o: ConfigsOptions): Promise<void> {
  if (o.entityName === undefined) throw new CliError('--alter needs --entity-name', 2);
  const set = o.addConfig !== undefined ? parseAddConfig(o.addConfig) : {};
  const remove = (o.deleteConfig ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  if (Object.keys(set).length + remove.length === 0)
    throw new CliError('--alter needs --add-config or --delete-config', 2);
  await using samsa = await connect(o.bootstrapServer);
  await samsa.admin().incrementalAlterConfigs([{ topic: o.entityName, set, delete: remove }]);
  process.stdout.write(`Completed updating config for topic ${o.entityName}.\n`);
}
