import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { Samsa, TopicDescription } from '@samsa/client';
import { CliError } from '../errors.js';
import { connect, withBootstrap } from '../connect.js';
import { parseIntOption } from '../options.js';

/** Kafka's reassignment JSON (kafka-reassign-partitions.sh): version 1, one entry per partition. */
export interface ReassignmentPlan {
  version: 1;
  partitions: Array<{ topic: string; partition: number; replicas: number[]; log_dirs?: string[] }>;
}

interface ReassignOptions {
  bootstrapServer: string;
  generate?: boolean;
  execute?: boolean;
  verify?: boolean;
  cancel?: boolean;
  topics?: string;
  brokers?: string;
  plan?: string;
  reassignmentJsonFile?: string;
  throttle?: number;
}

function idList(text: string, flag: string): number[] {
  const ids = text.split(',').map((s) => s.trim());
  if (ids.some((s) => !/^\d+$/.test(s))) throw new CliError(`${flag} expects broker ids like 1,2,4, not '${text}'`, 2);
  return ids.map(Number);
}

/** The plan as Kafka prints it: one partition per entry, sorted, with log_dirs "any". */
export function formatPlan(partitions: ReassignmentPlan['partitions']): string {
  const sorted = [...partitions].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  return JSON.stringify({
    version: 1,
    partitions: sorted.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      replicas: p.replicas,
      log_dirs: p.replicas.map(() => 'any'),
    })),
  });
}

export function parsePlan(text: string, source: string): ReassignmentPlan {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new CliError(`${source} is not JSON: ${(cause as Error).message}`, 2);
  }
  const plan = value as Partial<ReassignmentPlan>;
  if (!Array.isArray(plan?.partitions)) throw new CliError(`${source}: expected {"version":1,"partitions":[...]}`, 2);
  const seen = new Set<string>();
  for (const p of plan.partitions) {
    const ok =
      typeof p?.topic === 'string' &&
      Number.isInteger(p.partition) &&
      Array.isArray(p.replicas) &&
      p.replicas.every((r) => Number.isInteger(r));
    if (!ok)
      throw new CliError(`${source}: each partition needs topic, partition and replicas: ${JSON.stringify(p)}`, 2);
    const key = `${p.topic}-${p.partition}`;
    if (seen.has(key)) throw new CliError(`${source}: partition ${key} is listed twice`, 2);
    seen.add(key);
  }
  return { version: 1, partitions: plan.partitions };
}

/**
 * A proposal for --generate: each partition keeps its replication factor and every replica it has on
 * one of the given brokers (in its order, so a preferred leader that stays stays first); the other
 * slots go to the given brokers holding the fewest replicas of the proposal so far (lowest id on a
 * tie), and a partition whose preferred leader leaves gets the member preferred by the fewest
 * partitions so far. Kafka's --generate reassigns from scratch; keeping what can stay means a
 * decommission (`--brokers` without the broker that leaves) moves only that broker's replicas.
 */
export function proposePlan(topics: readonly TopicDescription[], brokers: readonly number[]): ReassignmentPlan {
  const given = [...new Set(brokers)].sort((a, b) => a - b);
  const load = new Map(given.map((id) => [id, 0]));
  const leads = new Map(given.map((id) => [id, 0]));
  const kept = topics.flatMap((t) =>
    t.partitions.map((p) => {
      const rf = p.replicas.length - p.addingReplicas.length;
      if (rf > given.length)
        throw new CliError(
          `${t.name}-${p.partition} has ${rf} replicas but only ${given.length} brokers were given`,
          2,
        );
      const stay = targetOf(p).filter((id) => load.has(id));
      for (const id of stay) load.set(id, load.get(id)! + 1);
      const leaderStays = stay.length > 0 && stay[0] === targetOf(p)[0];
      if (leaderStays) leads.set(stay[0]!, leads.get(stay[0]!)! + 1);
      return { topic: t.name, partition: p.partition, rf, replicas: stay, leaderStays };
    }),
  );
  return {
    version: 1,
    partitions: kept.map(({ topic, partition, rf, replicas, leaderStays }) => {
      const chosen = [...replicas];
      const fewest = (candidates: number[], count: Map<number, number>): number =>
        candidates.reduce((best, id) => (count.get(id)! < count.get(best)! ? id : best));
      while (chosen.length < rf) {
        const next = fewest(
          given.filter((id) => !chosen.includes(id)),
          load,
        );
        chosen.push(next);
        load.set(next, load.get(next)! + 1);
      }
      if (leaderStays) return { topic, partition, replicas: chosen };
      const leader = fewest(chosen, leads);
      leads.set(leader, leads.get(leader)! + 1);
      return { topic, partition, replicas: [leader, ...chosen.filter((id) => id !== leader)] };
    }),
  };
}

/** The current assignment of the plan's partitions, as a plan (what --execute prints for rollback). */
function currentPlan(topics: readonly TopicDescription[], plan: ReassignmentPlan): ReassignmentPlan['partitions'] {
  const byName = new Map(topics.map((t) => [t.name, t]));
  return plan.partitions.flatMap((p) => {
    const d = byName.get(p.topic)?.partitions.find((x) => x.partition === p.partition);
    return d ? [{ topic: p.topic, partition: p.partition, replicas: targetOf(d) }] : [];
  });
}

const targetOf = (p: TopicDescription['partitions'][number]): number[] =>
  p.replicas.filter((r) => !p.removingReplicas.includes(r));

/** --verify: one line per partition (Kafka's wording) and whether all are done. */
export function verifyLines(
  topics: readonly TopicDescription[],
  plan: ReassignmentPlan,
): { lines: string[]; done: boolean } {
  const byName = new Map(topics.map((t) => [t.name, t]));
  let done = true;
  const lines = plan.partitions.map((want) => {
    const name = `${want.topic}-${want.partition}`;
    const p = byName.get(want.topic)?.partitions.find((x) => x.partition === want.partition);
    if (!p) {
      done = false;
      return `Partition ${name} does not exist.`;
    }
    if (p.addingReplicas.length + p.removingReplicas.length > 0) {
      done = false;
      const inSync = p.addingReplicas.filter((r) => p.isr.includes(r)).length;
      return (
        `Reassignment of partition ${name} is still in progress: adding [${p.addingReplicas.join(',')}] ` +
        `(${inSync} in sync), removing [${p.removingReplicas.join(',')}].`
      );
    }
    if (p.replicas.join(',') === want.replicas.join(',')) return `Reassignment of partition ${name} is completed.`;
    return (
      `There is no active reassignment of partition ${name}, but replica set is ` +
      `${p.replicas.join(',')} rather than ${want.replicas.join(',')}.`
    );
  });
  return { lines, done };
}

async function describePlanTopics(samsa: Samsa, plan: ReassignmentPlan): Promise<TopicDescription[]> {
  return samsa.admin().describeTopics([...new Set(plan.partitions.map((p) => p.topic))]);
}

async function readPlan(o: ReassignOptions): Promise<ReassignmentPlan> {
  const file = o.plan ?? o.reassignmentJsonFile;
  if (!file) throw new CliError('name the plan: --plan plan.json', 2);
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new CliError(`cannot read ${file}: ${err.message}`, 2);
  });
  return parsePlan(text, file);
}

async function run(o: ReassignOptions, out: (line: string) => void): Promise<void> {
  const modes = [o.generate, o.execute, o.verify, o.cancel].filter(Boolean).length;
  if (modes !== 1) throw new CliError('give exactly one of --generate, --execute, --verify, --cancel', 2);
  if (o.throttle !== undefined && !o.execute) throw new CliError('--throttle goes with --execute', 2);
  if (o.generate) {
    if (!o.topics || !o.brokers) throw new CliError('--generate needs --topics T1,T2 and --brokers 1,2,3', 2);
    const brokers = idList(o.brokers, '--brokers');
    await using samsa = await connect(o.bootstrapServer);
    const topics = await samsa.admin().describeTopics(o.topics.split(',').map((t) => t.trim()));
    const current = topics.flatMap((t) =>
      t.partitions.map((p) => ({ topic: t.name, partition: p.partition, replicas: targetOf(p) })),
    );
    out('Current partition replica assignment');
    out(formatPlan(current));
    out('');
    out('Proposed partition reassignment configuration');
    out(formatPlan(proposePlan(topics, brokers).partitions));
    return;
  }
  const plan = await readPlan(o);
  await using samsa = await connect(o.bootstrapServer);
  const admin = samsa.admin();
  if (o.verify) {
    const { lines, done } = verifyLines(await describePlanTopics(samsa, plan), plan);
    for (const line of lines) out(line);
    if (!done) return;
    const cleared = await admin.clearReassignmentThrottles([...new Set(plan.partitions.map((p) => p.topic))]);
    const failed = cleared.filter((c) => c.error);
    for (const c of failed) out(`Could not remove the throttle of ${c.topic}: ${c.error!.message}`);
    if (failed.length === 0) out('Throttle was removed.');
    return;
  }
  if (o.execute) {
    const current = currentPlan(await describePlanTopics(samsa, plan), plan);
    out('Current partition replica assignment');
    out('');
    out(formatPlan(current));
    out('');
    out('Save this to use as the --plan option during rollback');
  }
  const outcomes = await admin.alterPartitionReassignments(
    plan.partitions.map((p) => ({ topic: p.topic, partition: p.partition, replicas: o.cancel ? null : p.replicas })),
    o.throttle !== undefined ? { throttleBytesPerSecond: o.throttle } : {},
  );
  const ok = outcomes.filter((x) => !x.error).map((x) => `${x.topic}-${x.partition}`);
  const failed = outcomes.filter((x) => x.error);
  if (o.throttle !== undefined) out(`The inter-broker throttle limit was set to ${o.throttle} B/s`);
  if (ok.length > 0)
    out(
      `Successfully ${o.cancel ? 'cancelled' : 'started'} partition ` +
        `reassignment${ok.length === 1 ? '' : 's'} for ${ok.join(',')}`,
    );
  for (const f of failed) out(`Error reassigning partition ${f.topic}-${f.partition}: ${f.error!.message}`);
  if (failed.length > 0)
    throw new CliError(`${failed.length} partition${failed.length === 1 ? '' : 's'} could not be reassigned`);
}

export function registerReassign(program: Command): void {
  withBootstrap(program.command('reassign-partitions'))
    .description('move partition replicas between brokers (like kafka-reassign-partitions.sh)')
    .option('--generate', 'print the current assignment and a proposed plan for --topics over --brokers')
    .option('--execute', 'start the moves of --plan (prints the current assignment, for rollback)')
    .option('--verify', 'report the progress of --plan; once all are done, remove the throttle')
    .option('--cancel', 'cancel the moves of --plan still in progress (back to the original replicas)')
    .option('--topics <t1,t2>', 'with --generate: the topics to move')
    .option('--brokers <1,2,3>', 'with --generate: the brokers to spread them over')
    .option('--plan <file>', "the reassignment JSON (Kafka's format)")
    .option('--reassignment-json-file <file>', "Kafka's name for --plan")
    .option(
      '--throttle <bytes/s>',
      "with --execute: limit the moving replicas' replication",
      parseIntOption('--throttle', 1, Number.MAX_SAFE_INTEGER),
    )
    .action(async (o: ReassignOptions) => {
      await run(o, (line) => process.stdout.write(`${line}\n`));
    });
}
