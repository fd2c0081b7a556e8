import type { Command } from 'commander';
import type { TopicDescription } from '@samsa/client';
import { CliError } from '../errors.js';
import { checkTopicName, connect, withBootstrap } from '../connect.js';
import { MAX_PARTITIONS_PER_TOPIC, parseIntOption } from '../options.js';

function collectConfig(pair: string, previous: Record<string, string> | undefined): Record<string, string> {
  const eq = pair.indexOf('=');
  if (eq <= 0) throw new CliError(`--config expects KEY=VALUE, not '${pair}'`, 2);
  return { ...previous, [pair.slice(0, eq)]: pair.slice(eq + 1) };
}

/** Kafka's kafka-topics --describe layout, one line per topic and one per partition. */
export function formatTopic(topic: TopicDescription): string[] {
  const configs = Object.entries(topic.configs)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  // During a move the replicas are the target and the ones leaving; Kafka counts them less those being added.
  const first = topic.partitions[0];
  const rf = first ? first.replicas.length - first.addingReplicas.length : 0;
  const lines = [
    `Topic: ${topic.name}\tPartitionCount: ${topic.partitions.length}\tReplicationFactor: ${rf}\tConfigs: ${configs}`,
  ];
  for (const p of topic.partitions) {
    const flags = [p.isr.length < p.replicas.length ? 'UnderReplicated' : '', p.leader < 0 ? 'NoLeader' : ''].filter(
      Boolean,
    );
    const offline = p.offlineReplicas.length > 0 ? `\tOffline: ${p.offlineReplicas.join(',')}` : '';
    const moving =
      p.addingReplicas.length + p.removingReplicas.length > 0
        ? `\tAdding Replicas: ${p.addingReplicas.join(',')}\tRemoving Replicas: ${p.removingReplicas.join(',')}`
        : '';
    lines.push(
      `\tTopic: ${topic.name}\tPartition: ${p.partition}\tLeader: ${p.leader < 0 ? 'none' : p.leader}` +
        `\tLeaderEpoch: ${p.leaderEpoch}\tReplicas: ${p.replicas.join(',')}\tIsr: ${p.isr.join(',')}` +
        `${moving}${offline}` +
        `${flags.length ? `\t(${flags.join(', ')})` : ''}`,
    );
  }
  return lines;
}

export function registerTopics(program: Command): void {
  const topics = program.command('topics').description('create, list, describe, alter and delete topics');

  withBootstrap(topics.command('create'))
    .description('create a topic')
    .requiredOption('--topic <name>', 'topic name')
    .option(
      '--partitions <n>',
      "number of partitions (default: the broker's num.partitions)",
      parseIntOption('--partitions', 1, MAX_PARTITIONS_PER_TOPIC),
    )
    .option(
      '--replication-factor <n>',
      "replicas per partition, at most the number of live brokers (default: the broker's default.replication.factor)",
      parseIntOption('--replication-factor', 1, 2 ** 31 - 1),
    )
    .option(
      '--config <key=value>',
      'a topic setting by its Kafka name, e.g. retention.ms=86400000 (repeatable)',
      collectConfig,
    )
    .action(
      async (o: {
        topic: string;
        partitions?: number;
        replicationFactor?: number;
        config?: Record<string, string>;
        bootstrapServer: string;
      }) => {
        await checkTopicName(o.topic);
        await using samsa = await connect(o.bootstrapServer);
        await samsa.admin().createTopics([
          {
            topic: o.topic,
            ...(o.partitions !== undefined ? { numPartitions: o.partitions } : {}),
            ...(o.replicationFactor !== undefined ? { replicationFactor: o.replicationFactor } : {}),
            configs: o.config ?? {},
          },
        ]);
        process.stdout.write(`Created topic ${o.topic}.\n`);
      },
    );

  withBootstrap(topics.command('list'))
    .description('list topic names')
    .action(async (o: { bootstrapServer: string }) => {
      await using samsa = await connect(o.bootstrapServer);
      for (const name of await samsa.admin().listTopics()) process.stdout.write(`${name}\n`);
    });

  withBootstrap(topics.command('describe'))
    .description('partitions with leader, leader epoch, replicas and ISR (all topics when --topic is left out)')
    .option('--topic <name>', 'only this topic')
    .option('--under-replicated-partitions', 'only partitions whose ISR is smaller than their replica set')
    .action(async (o: { topic?: string; underReplicatedPartitions?: boolean; bootstrapServer: string }) => {
      if (o.topic !== undefined) await checkTopicName(o.topic);
      await using samsa = await connect(o.bootstrapServer);
      const admin = samsa.admin();
      const names = o.topic ? [o.topic] : await admin.listTopics();
      for (const topic of names.length > 0 ? await admin.describeTopics(names) : []) {
        const shown = o.underReplicatedPartitions
          ? { ...topic, partitions: topic.partitions.filter((p) => p.isr.length < p.replicas.length) }
          : topic;
        if (o.underReplicatedPartitions && shown.partitions.length === 0) continue;
        process.stdout.write(`${formatTopic(shown).join('\n')}\n`);
      }
    });

  withBootstrap(topics.command('alter'))
    .description('add partitions to a topic (never fewer: partitions are not removed)')
    .requiredOption('--topic <name>', 'topic name')
    .requiredOption(
      '--partitions <n>',
      'the partition count afterwards, larger than the current one',
      parseIntOption('--partitions', 1, MAX_PARTITIONS_PER_TOPIC),
    )
    .action(async (o: { topic: string; partitions: number; bootstrapServer: string }) => {
      await checkTopicName(o.topic);
      await using samsa = await connect(o.bootstrapServer);
      await samsa.admin().createPartitions([{ topic: o.topic, count: o.partitions }]);
      process.stdout.write(`Topic ${o.topic} has ${o.partitions} partitions.\n`);
    });

  withBootstrap(topics.command('delete'))
    .description('delete a topic and all its data')
    .requiredOption('--topic <name>', 'topic name')
    .action(async (o: { topic: string; bootstrapServer: string }) => {
      await checkTopicName(o.topic);
      await using samsa = await connect(o.bootstrapServer);
      await samsa.admin().deleteTopics([o.topic]);
      process.stdout.write(`Deleted topic ${o.topic}.\n`);
    });
}
