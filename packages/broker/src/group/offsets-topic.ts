import { type ClassicConfig, DEFAULT_CLASSIC_CONFIG, type MigrationPolicy } from './classic.js';
import { ErrorCodes, SamsaError } from '@samsa/protocol';
import type { AssignorName } from './assignors.js';
import { ASSIGNOR_NAMES } from './assignors.js';
import type { GroupCoreConfig } from './core.js';

export const OFFSETS_TOPIC = '__consumer_offsets';

/** How __consumer_offsets is created: Kafka's settings, the replication factor capped by the live brokers. */
export function offsetsTopicSpec(
  settings: { numPartitions: number; replicationFactor: number; segmentBytes: number },
  liveBrokers: number,
): { name: string; numPartitions: number; replicationFactor: number; configs: Record<string, string> } {
  const replicationFactor = Math.max(1, Math.min(settings.replicationFactor, liveBrokers));
  return {
    name: OFFSETS_TOPIC,
    numPartitions: settings.numPartitions,
    replicationFactor,
    configs: {
      'cleanup.policy': 'compact',
      'segment.bytes': String(settings.segmentBytes),
      // Two copies before a commit counts, when there are three to keep one broker's loss from stopping commits.
      'min.insync.replicas': replicationFactor >= 3 ? '2' : '1',
    },
  };
}

/** group.consumer.assignors parsed: known names only, in order. */
export function parseAssignors(value: string): AssignorName[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const name of names)
    if (!(ASSIGNOR_NAMES as readonly string[]).includes(name))
      throw new SamsaError(ErrorCodes.INVALID_CONFIG, `group.consumer.assignors: unknown assignor ${name}`);
  if (names.length === 0) throw new SamsaError(ErrorCodes.INVALID_CONFIG, 'group.consumer.assignors is empty');
  return names as AssignorName[];
}

/** The core's configuration from the broker's settings (Kafka's names). */
export function groupCoreConfigFrom(settings: Readonly<Record<string, unknown>>): GroupCoreConfig {
  return {
    sessionTimeoutMs: settings['group.consumer.session.timeout.ms'] as number,
    heartbeatIntervalMs: settings['group.consumer.heartbeat.interval.ms'] as number,
    maxGroupSize: settings['group.consumer.max.size'] as number,
    assignors: parseAssignors(settings['group.consumer.assignors'] as string),
    offsetMetadataMaxBytes: settings['offset.metadata.max.bytes'] as number,
    offsetsRetentionMs: (settings['offsets.retention.minutes'] as number) * 60_000,
    offsetsRetentionCheckIntervalMs: settings['offsets.retention.check.interval.ms'] as number,
  };
}

/** The classic protocol's settings (Kafka's names; each falls back to Kafka's default when unset). */
export function classicConfigFrom(settings: Readonly<Record<string, unknown>>): ClassicConfig {
  const num = (name: string, fallback: number) => (settings[name] as number | undefined) ?? fallback;
  return {
    minSessionTimeoutMs: num('group.min.session.timeout.ms', DEFAULT_CLASSIC_CONFIG.minSessionTimeoutMs),
    maxSessionTimeoutMs: num('group.max.session.timeout.ms', DEFAULT_CLASSIC_CONFIG.maxSessionTimeoutMs),
    initialRebalanceDelayMs: num('group.initial.rebalance.delay.ms', DEFAULT_CLASSIC_CONFIG.initialRebalanceDelayMs),
    maxGroupSize: num('group.max.size', DEFAULT_CLASSIC_CONFIG.maxGroupSize),
    migrationPolicy:
      (settings['group.consumer.migration.policy'] as MigrationPolicy | undefined) ??
      DEFAULT_CLASSIC_CONFIG.migrationPolicy,
  };
}
