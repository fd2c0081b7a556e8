import { readdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, SamsaError, checkTopicName } from '@samsa/protocol';
import type { Logger } from 'pino';
import type { RoleChange } from '../cluster/metadata.js';
import {
  brokerSettingIsSet,
  effectiveTopicSettings,
  type BrokerSettingName,
  type Settings,
  type TopicSettingName,
} from '../config.js';
import {
  afterLogStartMoved,
  formatHighWatermarkCheckpoint,
  loadEpochCache,
  loadHighWatermarks,
  saveEpochCache,
  saveHighWatermarks,
  type HighWatermarkEntry,
  partitionKey,
  type Replica,
} from '../replication/index.js';
import {
  BROKER_TAIL_MAX_BYTES,
  BROKER_WRITEBACK_SLOTS,
  KafkaStorageError,
  LogCleaner,
  TailBudget,
  WritebackSlots,
  deleteDirectory,
  ioErrorCode,
  openPartitionLog,
  partitionDirName,
  removeDeletedDirectories,
  type LogConfig,
  type PartitionLog,
} from '../storage/index.js';
import type { DelayedOperations } from './delayed.js';
import { readPartitionTopicId, writePartitionTopicId } from './partition-metadata.js';

/**
 * A partition this broker holds a replica of, with its current role (the replication fields are
 * Replica's, ../replication/replica.ts; the epoch cache is kept on disk as leader-epoch-checkpoint).
 */
export interface HostedPartition extends Replica {
  /** Which creation of the topic the log belongs to (TopicInfo.id; '' when unknown). */
  readonly topicId: string;
  readonly log: PartitionLog;
  settings: Settings<TopicSettingName>;
}

/** Two known, different topic ids: the topic was deleted and created again in between. */
const isOtherCreation = (held: string, announced: string): boolean =>
  held !== '' && announced !== '' && held !== announced;

/** Maps topic settings (Kafka names) to the storage engine's configuration. */
export function logConfigFor(settings: Settings<TopicSettingName>): Partial<LogConfig> {
  return {
    segmentBytes: settings['segment.bytes'] as number,
    segmentMs: settings['segment.ms'] as number,
    // A compacted topic is not cut by time or size, unless its policy is compact,delete (as in Kafka).
    retentionMs: settings['cleanup.policy'] === 'compact' ? -1 : (settings['retention.ms'] as number),
    retentionBytes: settings['cleanup.policy'] === 'compact' ? -1 : (settings['retention.bytes'] as number),
    cleanupPolicy: settings['cleanup.policy'] as LogConfig['cleanupPolicy'],
    minCleanableDirtyRatio: settings['min.cleanable.dirty.ratio'] as number,
    minCompactionLagMs: settings['min.compaction.lag.ms'] as number,
    maxCompactionLagMs: settings['max.compaction.lag.ms'] as number,
    deleteRetentionMs: settings['delete.retention.ms'] as number,
    flushMessages: settings['flush.messages'] as number,
    flushMs: settings['flush.ms'] as number,
    maxMessageBytes: settings['max.message.bytes'] as number,
    indexIntervalBytes: settings['index.interval.bytes'] as number,
    messageTimestampType: settings['message.timestamp.type'] as LogConfig['messageTimestampType'],
  };
}

/** A leader or follower role as the metadata cache announces it. */
export type ReplicaRole = Extract<RoleChange, { kind: 'leader' | 'follower' }>;

/** What replication does when a partition's role changes (broker.ts wires the ReplicationDriver). */
export interface RoleHooks {
  /** Puts the partition in the announced role; false when that term was already in effect. */
  applyRole(hosted: HostedPartition, change: ReplicaRole): Promise<boolean>;
  /** The partition stops being led or followed here (removal, shutdown). */
  stepDown(hosted: HostedPartition): void;
}

/** A partition this broker is a replica of but cannot serve now: its log failed, or a role change did. */
interface OfflinePartition {
  readonly topic: string;
  readonly partition: number;
  readonly reason: string;
  /** Reopened once the directory has room: I/O failures and failed role changes. Corruption waits for an operator. */
  readonly retry: boolean;
  /** Failed reopens so far: the backoff doubles with each. */
  readonly failures: number;
  readonly retryAtMs: number;
  /** When it went offline (kept across failed reopens). */
  readonly sinceMs: number;
}

/** How long a reopen waits for the coordinator to take its report before it goes on anyway. */
const REPORT_WAIT_MS = 2000;

/**
 * Free space a reopen waits for: 5% of the data directory's filesystem, at most 64 MiB. Reopening
 * with a few kilobytes free would fail again at the next append and move leadership back and forth.
 */
function enoughRoom(freeBytes: number, totalBytes: number): boolean {
  return freeBytes >= Math.min(64 * 1024 * 1024, totalBytes * 0.05);
}

export interface PartitionRegistryOptions {
  readonly brokerId: number;
  readonly logDir: string;
  readonly brokerSettings: Settings<BrokerSettingName>;
  /** Topic-level overrides as stored in the coordinator, looked up when a log is opened. */
  readonly topicConfigs: (topic: string) => Readonly<Record<string, string>>;
  readonly waiters: DelayedOperations;
  readonly hooks: RoleHooks;
  /** This run's registration czxid (ClusterMember.registrationZxid): Kafka's broker epoch. */
  readonly registrationZxid: () => string;
  /** The role metadata gives this broker for a partition now (undefined: none), applied when its log comes back. */
  readonly currentRole: (topic: string, partition: number) => ReplicaRole | undefined;
  /** Tells the controller which partitions this broker cannot serve: the whole set (setOfflineReplicas). */
  readonly reportOffline: (partitions: ReadonlyArray<{ topic: string; partition: number }>) => Promise<void>;
  readonly logger: Logger;
}

/**
 * The partitions this broker hosts. Role changes from the metadata cache are applied one at a time,
 * in order, so a log is never opened twice or deleted while it opens.
 */
export class PartitionRegistry {
  private readonly hosted = new Map<string, HostedPartition>();
  /** The topic configs object each hosted log's settings were last computed from (applyTopicConfigs). */
  private readonly appliedConfigs = new WeakMap<HostedPartition, Readonly<Record<string, string>>>();
  private chain: Promise<void> = Promise.resolve();
  private retentionTimer: NodeJS.Timeout | undefined;
  /** One bound on what all hosted logs keep of their latest appends in memory. */
  private readonly tailBudget = new TailBudget(BROKER_TAIL_MAX_BYTES);
  /** One bound on the early writebacks all hosted logs run at once (they hold thread-pool threads). */
  private readonly writebackSlots = new WritebackSlots(BROKER_WRITEBACK_SLOTS);
  /** Saved high watermarks (replication-offset-checkpoint) of partitions not hosted yet in this run. */
  private readonly savedHighWatermarks = new Map<string, HighWatermarkEntry>();
  private checkpointTimer: NodeJS.Timeout | undefined;
  /** The last checkpoint written (or read): an unchanged state is not written again. */
  private lastCheckpoint: string | undefined;
  /** Checkpoint writes, one at a time (they share a temp file). */
  private checkpointing: Promise<void> = Promise.resolve();
  /** Partitions whose logs are offline here, reported to the controller and reopened when they can be. */
  private readonly offline = new Map<string, OfflinePartition>();
  private recoveryTimer: NodeJS.Timeout | undefined;
  private recovering = false;
  /** The last report of the offline set did not reach the coordinator: the next tick sends it again. */
  private reportFailed = false;
  /** Compacts the hosted logs whose cleanup.policy includes compact, below their high watermarks. */
  readonly cleaner: LogCleaner;

  constructor(private readonly options: PartitionRegistryOptions) {
    // Before any role is applied: a partition opened at start-up resumes from its saved high watermark.
    this.chain = this.chain.then(() => this.loadCheckpoint());
    const settings = options.brokerSettings;
    this.cleaner = new LogCleaner(
      {
        threads: settings['log.cleaner.threads'] as number,
        dedupeBufferBytes: settings['log.cleaner.dedupe.buffer.size'] as number,
        ioMaxBytesPerSecond: settings['log.cleaner.io.max.bytes.per.second'] as number,
        ioMaxIsDefault: !brokerSettingIsSet(settings, 'log.cleaner.io.max.bytes.per.second'),
        backoffMs: settings['log.cleaner.backoff.ms'] as number,
      },
      () =>
        [...this.hosted.values()].map((h) => ({
          log: h.log,
          // A record above the high watermark may still be truncated away, with the older value of its key.
          stableOffset: () => h.highWatermark,
          context: { topic: h.topic, partition: h.partition },
        })),
      options.logger.child({ component: 'log-cleaner' }),
    );
  }

  get size(): number {
    return this.hosted.size;
  }

  all(): IterableIterator<HostedPartition> {
    return this.hosted.values();
  }

  get(topic: string, partition: number): HostedPartition | undefined {
    return this.hosted.get(partitionKey(topic, partition));
  }

  /**
   * The partition if this broker leads it, else a typed error: UnknownTopicOrPartition when the
   * broker has no replica (metadata may be stale), NotLeaderOrFollower when another broker leads.
   */
  leaderOf(topic: string, partition: number, knownPartition: boolean): HostedPartition {
    const down = this.offline.get(partitionKey(topic, partition));
    // Kafka's answer for a replica on a failed log directory; retriable, and the client refreshes metadata.
    if (down)
      throw new KafkaStorageError(
        `the log of ${topic}-${partition} on broker ${this.options.brokerId} is offline: ${down.reason}`,
      );
    const hosted = this.get(topic, partition);
    if (hosted?.role === 'leader') return hosted;
    if (hosted || knownPartition)
      throw new SamsaError(
        ErrorCodes.NOT_LEADER_OR_FOLLOWER,
        `broker ${this.options.brokerId} does not lead ${topic}-${partition}`,
      );
    // A name no topic can have is the caller's mistake, not a topic still being created.
    checkTopicName(topic);
    throw new SamsaError(ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION, `unknown topic or partition ${topic}-${partition}`);
  }

  /** Partitions whose logs are offline on this broker, as `topic-partition` (for logs and tests). */
  offlinePartitions(): string[] {
    return [...this.offline.values()].map((o) => `${o.topic}-${o.partition}`).sort();
  }

  /**
   * Applies role changes in order; resolves when they are all in effect. A role that cannot be
   * applied (its log does not open, the disk is full) leaves the partition offline here: reported to
   * the controller, and tried again with backoff (recoverLogs).
   */
  applyRoles(changes: readonly RoleChange[]): Promise<void> {
    const run = this.chain.then(async () => {
      for (const change of changes) {
        try {
          await (change.kind === 'deleted' ? this.remove(change.topic, change.partition) : this.assume(change));
        } catch (err) {
          this.options.logger.error(
            { err, topic: change.topic, partition: change.partition },
            'failed to apply a role change; the partition is offline here until it is retried',
          );
          if (change.kind !== 'deleted') await this.takeOffline(change.topic, change.partition, err, 0);
        }
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Every `log.offline.retry.backoff.ms`: once the data directory has room, tells the controller the
   * due offline logs whose failure may pass (I/O errors, failed role changes) are back, reopens them
   * and applies the role metadata gives them now. A reopen runs recovery (a torn tail left by the
   * failed write is cut). A failed one takes the partition offline again and doubles its backoff, up
   * to `log.offline.retry.backoff.max.ms`.
   */
  startOfflineRecovery(): void {
    const intervalMs = this.options.brokerSettings['log.offline.retry.backoff.ms'] as number;
    this.recoveryTimer = setInterval(() => void this.recoverLogs(), intervalMs);
    this.recoveryTimer.unref();
  }

  private async recoverLogs(): Promise<void> {
    if (this.reportFailed) void this.report();
    const now = Date.now();
    const due = [...this.offline.values()].filter((o) => o.retry && o.retryAtMs <= now);
    if (due.length === 0 || this.recovering) return;
    this.recovering = true;
    const run = this.chain.then(async () => {
      if (!(await this.hasRoom())) return;
      for (const o of due) {
        const key = partitionKey(o.topic, o.partition);
        if (this.offline.get(key) !== o) continue;
        this.offline.delete(key);
        // The controller hears first: a follower that fetches before that would be refused the ISR
        // (IneligibleReplica) for a while. Role changes it sends meanwhile wait behind this on the chain;
        // a coordinator that does not answer holds them no longer than REPORT_WAIT_MS.
        await Promise.race([this.report(), new Promise((r) => setTimeout(r, REPORT_WAIT_MS).unref())]);
        const role = this.options.currentRole(o.topic, o.partition);
        try {
          if (role) await this.assume(role);
          this.options.logger.info(
            { topic: o.topic, partition: o.partition, role: role?.kind, offlineForMs: Date.now() - o.sinceMs },
            'partition log is back online',
          );
        } catch (err) {
          await this.takeOffline(o.topic, o.partition, err, o.failures + 1, o.sinceMs);
        }
      }
    });
    this.chain = run.catch(() => undefined);
    await run.catch((err: unknown) => this.options.logger.warn({ err }, 'reopening offline logs failed'));
    this.recovering = false;
  }

  /** Whether the data directory has room enough to reopen logs in (see enoughRoom). */
  private async hasRoom(): Promise<boolean> {
    try {
      const fs = await statfs(this.options.logDir);
      return enoughRoom(fs.bavail * fs.bsize, fs.blocks * fs.bsize);
    } catch (err) {
      this.options.logger.warn(
        { err, logDir: this.options.logDir },
        'cannot read the free space of the data directory',
      );
      return false;
    }
  }

  /** A hosted log went offline (its own hook): take the partition offline, on the chain. */
  private logFailed(topic: string, partition: number, log: PartitionLog, error: KafkaStorageError): void {
    const run = this.chain.then(async () => {
      if (this.get(topic, partition)?.log !== log) return;
      await this.takeOffline(topic, partition, error, 0);
    });
    this.chain = run.catch(() => undefined);
  }

  /**
   * Stops serving the partition here: it stops being led or followed, its log is closed (its files
   * released; its high watermark kept for the reopen), and the controller is told, which moves
   * leadership to an in-sync replica elsewhere. Requests get KafkaStorageError meanwhile.
   */
  private async takeOffline(
    topic: string,
    partition: number,
    error: unknown,
    failures: number,
    sinceMs = Date.now(),
  ): Promise<void> {
    const key = partitionKey(topic, partition);
    const hosted = this.hosted.get(key);
    if (hosted) {
      this.hosted.delete(key);
      this.options.hooks.stepDown(hosted);
      this.savedHighWatermarks.set(key, { topic, partition, highWatermark: hosted.highWatermark });
      await hosted.log.close().catch(() => undefined);
    }
    this.options.waiters.notify(key);
    const code = ioErrorCode(error);
    // Corruption found by the log itself (no system call failed) will not pass by waiting.
    const retry = code !== undefined || !(error instanceof KafkaStorageError);
    const base = this.options.brokerSettings['log.offline.retry.backoff.ms'] as number;
    const max = this.options.brokerSettings['log.offline.retry.backoff.max.ms'] as number;
    const backoffMs = Math.min(max, base * 2 ** Math.min(failures, 30));
    const reason = error instanceof Error ? error.message : String(error);
    this.offline.set(key, { topic, partition, reason, retry, failures, retryAtMs: Date.now() + backoffMs, sinceMs });
    this.options.logger.error(
      { topic, partition, reason, code, ...(retry ? { retryInMs: backoffMs } : {}) },
      retry
        ? 'partition is offline on this broker; reopening it once the disk has room'
        : 'partition is offline on this broker until an operator repairs its log and restarts the broker',
    );
    void this.report();
  }

  /** Sends the offline set to the controller (through the registration); a failure is retried by the tick. */
  private report(): Promise<void> {
    this.reportFailed = false;
    const partitions = [...this.offline.values()].map(({ topic, partition }) => ({ topic, partition }));
    return this.options.reportOffline(partitions).catch(() => {
      this.reportFailed = true;
    });
  }

  /**
   * Deletes partition directories this broker is no longer a replica of (their topic was deleted, or
   * reassigned, while the broker was down). Call once metadata is loaded.
   */
  async removeStrayLogs(isReplica: (topic: string, partition: number) => boolean): Promise<void> {
    await this.chain;
    const halfDeleted = await removeDeletedDirectories(this.options.logDir);
    if (halfDeleted.length > 0) this.options.logger.info({ dirs: halfDeleted }, 'finished deleting partition logs');
    const entries = await readdir(this.options.logDir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const match = /^(.+)-(\d+)$/.exec(entry.name);
      if (!entry.isDirectory() || !match) continue;
      const topic = match[1]!;
      const partition = Number(match[2]);
      if (this.get(topic, partition) || isReplica(topic, partition)) continue;
      this.savedHighWatermarks.delete(partitionKey(topic, partition));
      this.options.logger.info({ topic, partition }, 'deleting stray partition log');
      await deleteDirectory(join(this.options.logDir, entry.name));
    }
  }

  /**
   * A topic's configs changed in metadata (IncrementalAlterConfigs, a reassignment throttle): each
   * hosted log of the topic takes the new settings without being reopened (PartitionLog.reconfigure),
   * and min.insync.replicas applies to the next acks=all write. Cheap when nothing changed: a topic's
   * configs object is replaced only when its config znode changes.
   */
  applyTopicConfigs(): void {
    for (const hosted of this.hosted.values()) {
      const overrides = this.options.topicConfigs(hosted.topic);
      if (this.appliedConfigs.get(hosted) === overrides) continue;
      this.appliedConfigs.set(hosted, overrides);
      const context = { topic: hosted.topic, partition: hosted.partition };
      try {
        const settings = effectiveTopicSettings(this.options.brokerSettings, overrides);
        const changed = Object.keys(settings).filter(
          (k) => settings[k as TopicSettingName] !== hosted.settings[k as TopicSettingName],
        );
        if (changed.length === 0) continue;
        hosted.log.reconfigure(logConfigFor(settings));
        hosted.settings = settings;
        // The leader's term took min.insync.replicas when it began.
        hosted.leaderState?.setMinInsyncReplicas(settings['min.insync.replicas'] as number);
        this.options.logger.info({ ...context, changed }, 'topic configs changed; applied to the open log');
      } catch (err) {
        // Written by a tool that skipped validation: keep the settings the log has.
        this.options.logger.warn({ ...context, err }, 'cannot apply the changed topic configs; keeping the old ones');
      }
    }
  }

  /** Starts enforcing retention on every hosted log every `log.retention.check.interval.ms`, and the cleaner. */
  startRetention(): void {
    if (this.options.brokerSettings['log.cleaner.enable'] === true) this.cleaner.start();
    const intervalMs = this.options.brokerSettings['log.retention.check.interval.ms'] as number;
    this.retentionTimer = setInterval(() => {
      for (const hosted of this.hosted.values()) {
        hosted.log
          .deleteOldSegments(hosted.highWatermark)
          // The epoch cache follows the new log start (and a leader's low watermark, for DeleteRecords).
          .then(async (deleted) => {
            if (deleted === 0) return;
            const save = (h: HostedPartition): Promise<void> => saveEpochCache(h.log.dir, h.epochCache);
            if (await afterLogStartMoved(hosted, save))
              this.options.waiters.notify(partitionKey(hosted.topic, hosted.partition));
          })
          .catch((err: unknown) =>
            this.options.logger.warn({ err, topic: hosted.topic, partition: hosted.partition }, 'retention failed'),
          );
      }
    }, intervalMs);
    this.retentionTimer.unref();
  }

  /** Saves every partition's high watermark every `replica.high.watermark.checkpoint.interval.ms`. */
  startHighWatermarkCheckpoints(): void {
    const intervalMs = this.options.brokerSettings['replica.high.watermark.checkpoint.interval.ms'] as number;
    this.checkpointTimer = setInterval(() => void this.checkpointHighWatermarks(), intervalMs);
    this.checkpointTimer.unref();
  }

  /**
   * Writes replication-offset-checkpoint if anything changed since the last write: the hosted
   * partitions' high watermarks, and the saved ones of partitions not hosted yet in this run (their
   * roles may not have arrived). A failed write is logged; the next one tries again.
   */
  checkpointHighWatermarks(): Promise<void> {
    const run = this.checkpointing.then(async () => {
      const entries = new Map(this.savedHighWatermarks);
      for (const [key, h] of this.hosted)
        entries.set(key, { topic: h.topic, partition: h.partition, highWatermark: h.highWatermark });
      const text = formatHighWatermarkCheckpoint([...entries.values()]);
      if (text === this.lastCheckpoint) return;
      try {
        await saveHighWatermarks(this.options.logDir, text);
        this.lastCheckpoint = text;
      } catch (err) {
        this.options.logger.warn({ err, logDir: this.options.logDir }, 'could not save the high watermark checkpoint');
      }
    });
    this.checkpointing = run;
    return run;
  }

  private async loadCheckpoint(): Promise<void> {
    try {
      const entries = await loadHighWatermarks(this.options.logDir);
      for (const e of entries) this.savedHighWatermarks.set(partitionKey(e.topic, e.partition), e);
      this.lastCheckpoint = formatHighWatermarkCheckpoint(entries);
    } catch (err) {
      // Starting from 0 is safe (consumers wait until followers fetch again), only less available.
      this.options.logger.error(
        { err, logDir: this.options.logDir },
        'high watermark checkpoint unreadable; partitions start from high watermark 0',
      );
    }
  }

  async close(): Promise<void> {
    if (this.recoveryTimer) clearInterval(this.recoveryTimer);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    await this.cleaner.close();
    await this.chain;
    await this.checkpointHighWatermarks();
    for (const hosted of this.hosted.values()) this.options.hooks.stepDown(hosted);
    await Promise.all(
      [...this.hosted.values()].map((h) =>
        h.log.close().catch((err: unknown) => this.options.logger.warn({ err }, 'closing a log failed')),
      ),
    );
    this.hosted.clear();
  }

  private async assume(change: ReplicaRole): Promise<void> {
    // Ordering rule: lead only terms the controller started after this broker registered. A state
    // written before is a previous run's leadership: resuming it could hand followers a log that lost
    // its unflushed tail, so wait for the controller, which re-elects a broker that came back.
    if (change.kind === 'leader' && change.stateMzxid < this.options.registrationZxid()) {
      this.options.logger.info(
        { topic: change.topic, partition: change.partition, leaderEpoch: change.leaderEpoch },
        "leadership predates this broker's registration; waiting for the controller to elect again",
      );
      return;
    }
    const key = partitionKey(change.topic, change.partition);
    // Offline here: the role metadata holds when the log comes back is applied then (recoverLogs).
    if (this.offline.has(key)) return;
    let hosted = this.hosted.get(key);
    if (hosted && isOtherCreation(hosted.topicId, change.topicId)) {
      // The metadata announces a deletion before a new creation; this only guards against missing it.
      this.options.logger.warn(
        { topic: change.topic, partition: change.partition, topicId: hosted.topicId, newTopicId: change.topicId },
        'the log belongs to an earlier creation of the topic; deleting it',
      );
      await this.remove(change.topic, change.partition);
      hosted = undefined;
    }
    if (!hosted) {
      const settings = effectiveTopicSettings(this.options.brokerSettings, this.options.topicConfigs(change.topic));
      const dir = join(this.options.logDir, partitionDirName(change.topic, change.partition));
      const recorded = await readPartitionTopicId(dir);
      if (isOtherCreation(recorded ?? '', change.topicId)) {
        // Kept from a creation of the topic that was deleted while this broker was away.
        this.options.logger.warn(
          { topic: change.topic, partition: change.partition, topicId: recorded, newTopicId: change.topicId },
          'the partition directory belongs to an earlier creation of the topic; deleting it',
        );
        this.savedHighWatermarks.delete(key);
        await deleteDirectory(dir);
      }
      const config = {
        ...logConfigFor(settings),
        writebackIntervalBytes: this.options.brokerSettings['log.writeback.interval.bytes'] as number,
        inlineWriteMaxBytes: this.options.brokerSettings['log.inline.write.max.bytes'] as number,
      };
      const { topic, partition } = change;
      const log: PartitionLog = await openPartitionLog({
        dir,
        config,
        logger: this.options.logger.child({ topic, partition }),
        tailBudget: this.tailBudget,
        writebackSlots: this.writebackSlots,
        onOffline: (error) => this.logFailed(topic, partition, log, error),
      });
      let epochCache: Awaited<ReturnType<typeof loadEpochCache>>;
      try {
        // Found corrupt while opening: offline until an operator repairs it (not retried).
        if (log.state !== 'online') throw new KafkaStorageError(`the log in ${dir} is corrupt; see the log above`);
        if (change.topicId !== '' && recorded !== change.topicId) await writePartitionTopicId(dir, change.topicId);
        epochCache = await loadEpochCache(dir);
      } catch (err) {
        await log.close().catch(() => undefined);
        throw err;
      }
      // Only records the log holds (a torn tail cut; a reset whose cleared cache a crash did not save).
      epochCache.trimToLog(log.logStartOffset, log.logEndOffset);
      hosted = {
        topic: change.topic,
        partition: change.partition,
        topicId: change.topicId,
        log,
        epochCache,
        leaderState: undefined,
        role: change.kind,
        leaderEpoch: -1,
        leader: change.leader,
        isr: change.isr,
        replicas: change.replicas,
        // Saved at most every replica.high.watermark.checkpoint.interval.ms, so at or below the real one;
        // capped at the log end in case the page cache lost a tail the watermark had covered.
        highWatermark: Math.min(this.savedHighWatermarks.get(key)?.highWatermark ?? 0, log.logEndOffset),
        settings,
      };
      this.savedHighWatermarks.delete(key);
      this.hosted.set(key, hosted);
    }
    // The same term announced again (start-up overlaps the first events): nothing to do. A failure
    // (e.g. the epoch cache cannot be saved on a full disk) takes the partition offline (applyRoles).
    if (!(await this.options.hooks.applyRole(hosted, change))) return;
    this.options.logger.info(
      {
        topic: change.topic,
        partition: change.partition,
        role: change.kind,
        leader: change.leader,
        leaderEpoch: change.leaderEpoch,
        isr: change.isr,
      },
      'partition role',
    );
  }

  private async remove(topic: string, partition: number): Promise<void> {
    const key = partitionKey(topic, partition);
    const hosted = this.hosted.get(key);
    this.hosted.delete(key);
    this.savedHighWatermarks.delete(key);
    if (this.offline.delete(key)) void this.report();
    if (hosted) this.options.hooks.stepDown(hosted);
    this.options.waiters.notify(key);
    if (hosted) await hosted.log.close().catch(() => undefined);
    await deleteDirectory(join(this.options.logDir, partitionDirName(topic, partition)));
    this.options.logger.info({ topic, partition }, 'deleted partition log');
  }
}
