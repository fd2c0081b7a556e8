/**
 * `samsa consumer-groups`: Kafka's kafka-consumer-groups.sh by another name. List, describe (offsets and
 * lag per partition, members, state), delete groups, and reset their committed offsets while they
 * have no members.
 */
import type { Command } from 'commander';
import type { Admin, CommitOffset, GroupDescription } from '@samsa/client';
import { connect, loadClient, withBootstrap } from '../connect.js';
import { CliError } from '../errors.js';

interface Options {
  bootstrapServer: string;
  list?: boolean;
  describe?: boolean;
  delete?: boolean;
  resetOffsets?: boolean;
  deleteOffsets?: boolean;
  group?: string;
  members?: boolean;
  state?: boolean | string;
  verbose?: boolean;
  topic: string[];
  allTopics?: boolean;
  toEarliest?: boolean;
  toLatest?: boolean;
  toOffset?: string;
  shiftBy?: string;
  toDatetime?: string;
  dryRun?: boolean;
  execute?: boolean;
  isolation?: string;
}

/** A --topic value: `T` (every partition) or `T:P[,P...]`. */
export interface TopicSpec {
  topic: string;
  partitions: number[] | undefined;
}

export function parseTopicSpec(value: string): TopicSpec {
  const colon = value.lastIndexOf(':');
  if (colon < 0) {
    if (value === '') throw new CliError('--topic needs a topic name', 2);
    return { topic: value, partitions: undefined };
  }
  const topic = value.slice(0, colon);
  const list = value.slice(colon + 1).split(',');
  if (topic === '' || list.some((p) => !/^\d+$/.test(p)))
    throw new CliError(`--topic expects TOPIC or TOPIC:PARTITION[,PARTITION...], not '${value}'`, 2);
  return { topic, partitions: list.map(Number) };
}

/** Rows as aligned columns, as Kafka's tools print them. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export function registerConsumerGroups(program: Command): void {
  withBootstrap(program.command('consumer-groups'))
    .description('list, describe and delete consumer groups; reset their offsets (kafka-consumer-groups)')
    .option('--list', 'list every group')
    .option('--describe', 'describe a group: committed offset, log end offset and lag per partition')
    .option('--delete', 'delete a group without members, with its offsets')
    .option('--reset-offsets', 'set the committed offsets of a group without members')
    .option('--delete-offsets', 'delete committed offsets of topics no member subscribes to')
    .option('--group <id>', 'the group')
    .option('--members', 'with --describe: the members, their hosts and partition counts')
    .option('--state [state]', 'with --describe: the group state; with --list: only groups in this state')
    .option('--verbose', 'with --describe --members: the partitions of each member')
    .option(
      '--isolation <level>',
      "with --describe: read_uncommitted (lag to the log end offset, the default, as Kafka's tool) or " +
        'read_committed (lag to the last stable offset, as read_committed consumers count it)',
    )
    .option('--topic <topic[:p,...]>', 'topic (and partitions) to reset or delete (repeatable)', collect, [])
    .option('--all-topics', 'with --reset-offsets: every topic the group has offsets for')
    .option('--to-earliest', 'reset to the log start offset')
    .option('--to-latest', 'reset to the log end offset')
    .option('--to-offset <n>', 'reset to this offset (kept within the log)')
    .option('--shift-by <n>', 'move the committed offset by n (negative: back)')
    .option('--to-datetime <iso>', 'reset to the first record at or after this time (e.g. 2026-12-06T10:00:00Z)')
    .option('--dry-run', 'with --reset-offsets: print the new offsets, change nothing (the default)')
    .option('--execute', 'with --reset-offsets: commit the new offsets')
    .action(async (o: Options) => {
      const actions = [o.list, o.describe, o.delete, o.resetOffsets, o.deleteOffsets].filter(Boolean).length;
      if (actions !== 1)
        throw new CliError('give exactly one of --list, --describe, --delete, --reset-offsets, --delete-offsets', 2);
      if (!o.list && o.group === undefined) throw new CliError('--group is required', 2);
      if (o.isolation !== undefined && o.isolation !== 'read_uncommitted' && o.isolation !== 'read_committed')
        throw new CliError(`--isolation is read_uncommitted or read_committed, not '${o.isolation}'`, 2);
      if (o.isolation !== undefined && (!o.describe || o.members || o.state !== undefined))
        throw new CliError('--isolation goes with --describe (the offsets table)', 2);
      await using samsa = await connect(o.bootstrapServer, 'samsa-consumer-groups');
      const admin = samsa.admin();
      const group = o.group as string;
      if (o.list) await list(admin, o);
      else if (o.describe) await describe(admin, group, o);
      else if (o.delete) {
        await admin.deleteGroups([group]);
        process.stdout.write(`Deletion of requested consumer groups ('${group}') was successful.\n`);
      } else if (o.resetOffsets) await resetOffsets(admin, group, o);
      else await deleteOffsets(admin, group, o);
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function list(admin: Admin, o: Options): Promise<void> {
  const states = typeof o.state === 'string' ? [o.state] : [];
  const groups = await admin.listGroups({ states });
  if (o.state === undefined) {
    for (const g of groups) process.stdout.write(`${g.groupId}\n`);
    return;
  }
  process.stdout.write(
    formatTable(
      ['GROUP', 'STATE'],
      groups.map((g) => [g.groupId, g.state]),
    ),
  );
}

async function describeOrEmpty(admin: Admin, group: string): Promise<GroupDescription | undefined> {
  const { ErrorCodes } = await loadClient();
  try {
    const [description] = await admin.describeGroups([group]);
    return description;
  } catch (err) {
    if ((err as { code?: number }).code === ErrorCodes.GROUP_ID_NOT_FOUND.code) return undefined;
    throw err;
  }
}

async function describe(admin: Admin, group: string, o: Options): Promise<void> {
  const description = await describeOrEmpty(admin, group);
  if (o.state !== undefined) {
    if (!description) throw new CliError(`Consumer group '${group}' does not exist.`);
    const coordinator = await admin.findGroupCoordinator(group);
    process.stdout.write(
      formatTable(
        ['GROUP', 'COORDINATOR (ID)', 'ASSIGNMENT-STRATEGY', 'STATE', '#MEMBERS'],
        [
          [
            group,
            `${coordinator.address} (${coordinator.nodeId})`,
            description.assignor || '-',
            description.state,
            String(description.members.length),
          ],
        ],
      ),
    );
    return;
  }
  if (o.members) {
    if (!description) throw new CliError(`Consumer group '${group}' does not exist.`);
    const header = ['GROUP', 'CONSUMER-ID', 'GROUP-INSTANCE-ID', 'HOST', 'CLIENT-ID', '#PARTITIONS'];
    const rows = description.members.map((m) => {
      const row = [
        group,
        m.memberId,
        m.instanceId || '-',
        m.clientHost || '-',
        m.clientId || '-',
        String(m.assignment.length),
      ];
      if (o.verbose) row.push(m.assignment.map((tp) => `${tp.topic}-${tp.partition}`).join(',') || '-');
      return row;
    });
    process.stdout.write(formatTable(o.verbose ? [...header, 'ASSIGNMENT'] : header, rows));
    if (description.members.length === 0) process.stdout.write(`\nConsumer group '${group}' has no active members.\n`);
    return;
  }
  await describeOffsets(admin, group, description, o.isolation === 'read_committed');
}

/**
 * Per partition: committed offset, log end offset, lag, and the member that owns it. With `readCommitted`
 * the end is the last stable offset (ListOffsets at read_committed): records of open transactions are not
 * lag a read_committed member can consume yet.
 */
async function describeOffsets(
  admin: Admin,
  group: string,
  description: GroupDescription | undefined,
  readCommitted: boolean,
): Promise<void> {
  const committed = await admin.fetchGroupOffsets(group);
  const owners = new Map<string, { memberId: string; host: string; clientId: string }>();
  for (const m of description?.members ?? [])
    for (const tp of m.assignment)
      owners.set(`${tp.topic}\0${tp.partition}`, { memberId: m.memberId, host: m.clientHost, clientId: m.clientId });
  const keys = new Map<string, { topic: string; partition: number; offset: number | undefined }>();
  for (const c of committed) keys.set(`${c.topic}\0${c.partition}`, { ...c });
  for (const m of description?.members ?? [])
    for (const tp of m.assignment) {
      const key = `${tp.topic}\0${tp.partition}`;
      if (!keys.has(key)) keys.set(key, { topic: tp.topic, partition: tp.partition, offset: undefined });
    }
  if (keys.size === 0 && !description) throw new CliError(`Consumer group '${group}' does not exist.`);
  const ends = new Map<string, number>();
  for (const topic of new Set([...keys.values()].map((k) => k.topic)))
    for (const p of await admin.fetchTopicOffsets(topic, readCommitted ? { isolationLevel: 'read_committed' } : {}))
      ends.set(`${topic}\0${p.partition}`, p.high);
  const rows = [...keys.entries()]
    .sort(([, a], [, b]) => a.topic.localeCompare(b.topic) || a.partition - b.partition)
    .map(([key, k]) => {
      const end = ends.get(key);
      const owner = owners.get(key);
      const lag = k.offset !== undefined && end !== undefined ? String(Math.max(0, end - k.offset)) : '-';
      return [
        group,
        k.topic,
        String(k.partition),
        k.offset === undefined ? '-' : String(k.offset),
        end === undefined ? '-' : String(end),
        lag,
        owner?.memberId ?? '-',
        owner?.host || '-',
        owner?.clientId || '-',
      ];
    });
  if (description && description.members.length === 0)
    process.stdout.write(`\nConsumer group '${group}' has no active members.\n\n`);
  process.stdout.write(
    formatTable(
      [
        'GROUP',
        'TOPIC',
        'PARTITION',
        'CURRENT-OFFSET',
        readCommitted ? 'LAST-STABLE-OFFSET' : 'LOG-END-OFFSET',
        'LAG',
        'CONSUMER-ID',
        'HOST',
        'CLIENT-ID',
      ],
      rows,
    ),
  );
}

export type ResetTarget =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'offset'; offset: number }
  | { kind: 'shift'; by: number }
  | { kind: 'datetime'; timestampMs: number };

function resetTarget(o: Options): ResetTarget {
  const given = [o.toEarliest, o.toLatest, o.toOffset, o.shiftBy, o.toDatetime].filter((v) => v !== undefined);
  if (given.length !== 1)
    throw new CliError(
      '--reset-offsets needs exactly one of --to-earliest, --to-latest, --to-offset, --shift-by, --to-datetime',
      2,
    );
  if (o.toEarliest) return { kind: 'earliest' };
  if (o.toLatest) return { kind: 'latest' };
  if (o.toOffset !== undefined) {
    if (!/^\d+$/.test(o.toOffset)) throw new CliError(`--to-offset must be an offset, not '${o.toOffset}'`, 2);
    return { kind: 'offset', offset: Number(o.toOffset) };
  }
  if (o.shiftBy !== undefined) {
    if (!/^[+-]?\d+$/.test(o.shiftBy)) throw new CliError(`--shift-by must be an integer, not '${o.shiftBy}'`, 2);
    return { kind: 'shift', by: Number(o.shiftBy) };
  }
  const timestampMs = Date.parse(o.toDatetime as string);
  if (Number.isNaN(timestampMs)) throw new CliError(`--to-datetime must be an ISO 8601 time, not '${o.toDatetime}'`, 2);
  return { kind: 'datetime', timestampMs };
}

/** Where a reset puts a partition, before it is kept within the log. */
export function newOffset(
  target: ResetTarget,
  range: { low: number; high: number },
  committed: number | undefined,
  atTime: number,
): number {
  switch (target.kind) {
    case 'earliest':
      return range.low;
    case 'latest':
      return range.high;
    case 'offset':
      return target.offset;
    case 'shift':
      return (committed ?? range.low) + target.by;
    case 'datetime':
      // No record at or after that time: the end, as Kafka's tool does.
      return atTime < 0 ? range.high : atTime;
  }
}

async function resetOffsets(admin: Admin, group: string, o: Options): Promise<void> {
  if (o.dryRun && o.execute) throw new CliError('give --dry-run or --execute, not both', 2);
  const target = resetTarget(o);
  if (o.topic.length === 0 && !o.allTopics) throw new CliError('--reset-offsets needs --topic or --all-topics', 2);
  const description = await describeOrEmpty(admin, group);
  if (description && description.members.length > 0)
    throw new CliError(
      `Assignments can only be reset if the group '${group}' is inactive, ` +
        `but it has ${description.members.length} active member(s) (state ${description.state}).`,
    );
  const committed = await admin.fetchGroupOffsets(group);
  const specs = o.allTopics
    ? [...new Set(committed.map((c) => c.topic))].map((topic) => ({ topic, partitions: undefined }))
    : o.topic.map(parseTopicSpec);
  const current = new Map(committed.map((c) => [`${c.topic}\0${c.partition}`, c.offset]));
  const plan: CommitOffset[] = [];
  for (const spec of specs) {
    const bounds = await admin.fetchTopicOffsets(spec.topic);
    const byTime =
      target.kind === 'datetime' ? await admin.fetchTopicOffsetsByTimestamp(spec.topic, target.timestampMs) : [];
    for (const partition of spec.partitions ?? bounds.map((b) => b.partition)) {
      const range = bounds.find((b) => b.partition === partition);
      if (!range) throw new CliError(`topic ${spec.topic} has no partition ${partition}`);
      const now = current.get(`${spec.topic}\0${partition}`);
      const atTime = byTime.find((t) => t.partition === partition)?.offset ?? -1;
      const offset = newOffset(target, range, now, atTime);
      // Kafka keeps a reset within the log: below the start is the start, past the end the end.
      plan.push({ topic: spec.topic, partition, offset: Math.min(range.high, Math.max(range.low, offset)) });
    }
  }
  if (o.execute) await admin.alterGroupOffsets(group, plan);
  process.stdout.write(
    formatTable(
      ['GROUP', 'TOPIC', 'PARTITION', 'NEW-OFFSET'],
      plan.map((p) => [group, p.topic, String(p.partition), String(p.offset)]),
    ),
  );
  if (!o.execute) process.stdout.write('(dry run: nothing changed; add --execute to commit these offsets)\n');
}

async function deleteOffsets(admin: Admin, group: string, o: Options): Promise<void> {
  if (o.topic.length === 0) throw new CliError('--delete-offsets needs --topic', 2);
  const partitions: { topic: string; partition: number }[] = [];
  for (const spec of o.topic.map(parseTopicSpec)) {
    const list = spec.partitions ?? (await admin.fetchTopicOffsets(spec.topic)).map((p) => p.partition);
    for (const partition of list) partitions.push({ topic: spec.topic, partition });
  }
  await admin.deleteGroupOffsets(group, partitions);
  process.stdout.write(
    formatTable(
      ['GROUP', 'TOPIC', 'PARTITION', 'STATUS'],
      partitions.map((p) => [group, p.topic, String(p.partition), 'Deleted']),
    ),
  );
}
