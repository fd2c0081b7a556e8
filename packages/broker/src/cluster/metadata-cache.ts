/**
 * The watcher edge of the metadata image: keeps a MetadataImage in step with the coordinator through
 * one-shot watches on brokers, controller, topics, topic configs and partition states, and emits the
 * local broker's role changes. Every broker runs one; the broker server answers Metadata from `image`
 * and opens/closes partition logs on `roles`.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { BrokerEndpoint } from '../listeners.js';
import {
  ZNODES,
  brokerPath,
  decodeBroker,
  decodeControllerEpoch,
  decodeOfflineReplicas,
  decodeControllerId,
  decodePartitionState,
  decodeTopic,
  decodeTopicConfig,
  partitionStatePath,
  topicConfigPath,
  topicPath,
  type ReplicaRef,
} from '../controller/znodes.js';
import {
  EMPTY_IMAGE,
  type MetadataImage,
  type RoleChange,
  diffRoles,
  withBrokers,
  withClusterId,
  withController,
  withPartitionState,
  withTopicAssignment,
  withTopicConfigs,
} from './metadata.js';
import { zkErrorCode, zxidHex } from '../controller/zk-edge.js';
import type { Watcher, ZkSession } from './zk.js';

export interface MetadataCacheEvents {
  /** The image after any change. */
  change: [image: MetadataImage];
  /** Role changes of the local broker, in the order they were observed. */
  roles: [changes: RoleChange[]];
}

/** Delay before re-reading after a failed read (connection loss); the session edge handles expiry. */
const RETRY_DELAY_MS = 250;

export class MetadataCache extends EventEmitter<MetadataCacheEvents> {
  private current: MetadataImage = EMPTY_IMAGE;
  private zk: ZkSession | undefined;
  /** Bumped on every attach/detach; reads from an older generation are dropped. */
  private generation = 0;
  private readonly watchers = new Map<string, Watcher>();
  private readonly readSeq = new Map<string, number>();
  private readonly armedTopics = new Set<string>();
  private readonly armedPartitions = new Set<string>();

  constructor(
    readonly brokerId: number,
    /** The member's logger, which names the broker already. */
    private readonly logger: Logger,
  ) {
    super();
  }

  get image(): MetadataImage {
    return this.current;
  }

  /** Starts watching through `zk`; resolves once the whole cluster has been read once. */
  async attach(zk: ZkSession): Promise<void> {
    this.detach();
    this.zk = zk;
    const gen = this.generation;
    await Promise.all([
      this.readClusterId(gen),
      this.readBrokers(gen),
      this.readController(gen),
      this.readControllerEpoch(gen),
      this.readTopics(gen),
    ]);
  }

  /** Stops applying reads (session closed or expired). The image is kept until the next attach. */
  detach(): void {
    this.generation += 1;
    this.zk = undefined;
    this.watchers.clear();
    this.readSeq.clear();
    this.armedTopics.clear();
    this.armedPartitions.clear();
  }

  /** Resolves with the first image that satisfies `predicate`; rejects after timeoutMs. */
  waitFor(predicate: (image: MetadataImage) => boolean, timeoutMs = 10_000): Promise<MetadataImage> {
    if (predicate(this.current)) return Promise.resolve(this.current);
    return new Promise((resolve, reject) => {
      const onChange = (image: MetadataImage): void => {
        if (!predicate(image)) return;
        clearTimeout(timer);
        this.off('change', onChange);
        resolve(image);
      };
      const timer = setTimeout(() => {
        this.off('change', onChange);
        reject(new Error(`Broker ${this.brokerId}: metadata condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('change', onChange);
    });
  }

  // ---- plumbing ----

  /** Drops the per-path bookkeeping of a deleted topic (its watches fire once more, harmlessly). */
  private forgetTopic(topic: string): void {
    this.armedTopics.delete(topic);
    const prefix = `${topicPath(topic)}/`;
    for (const map of [this.watchers, this.readSeq] as Map<string, unknown>[]) {
      for (const key of [...map.keys()])
        if (key.startsWith(prefix) || key === topicPath(topic) || key === topicConfigPath(topic)) map.delete(key);
    }
    for (const key of [...this.armedPartitions]) if (key.startsWith(`${topic}/`)) this.armedPartitions.delete(key);
  }

  private apply(update: (image: MetadataImage) => MetadataImage): void {
    const before = this.current;
    const after = update(before);
    if (after === before) return;
    this.current = after;
    this.emit('change', after);
    const roles = diffRoles(this.brokerId, before, after);
    if (roles.length > 0) {
      for (const r of roles) this.logger.info(r, 'partition role changed');
      this.emit('roles', roles);
    }
  }

  /** A stable watcher per path, so the client keeps one registration; it re-runs `read`. */
  private watcher(gen: number, key: string, read: () => Promise<void>): Watcher {
    let w = this.watchers.get(key);
    if (!w) {
      w = () => {
        if (gen === this.generation) void read();
      };
      this.watchers.set(key, w);
    }
    return w;
  }

  /** Runs a read, dropping its result if a newer read of the same key started or the session changed. */
  private async guarded<T>(
    gen: number,
    key: string,
    read: (zk: ZkSession) => Promise<T>,
    apply: (value: T) => void,
    retry: () => Promise<void>,
  ): Promise<void> {
    const zk = this.zk;
    if (gen !== this.generation || !zk) return;
    const seq = (this.readSeq.get(key) ?? 0) + 1;
    this.readSeq.set(key, seq);
    try {
      const value = await read(zk);
      if (gen === this.generation && this.readSeq.get(key) === seq) apply(value);
    } catch (error) {
      if (gen !== this.generation) return;
      if (zkErrorCode(error) === undefined) {
        // Not a coordinator error: a znode with a value we cannot decode. Retrying would read the same
        // bytes; its watch (set by the read) brings the next version.
        this.logger.error({ path: key, err: error }, 'ignoring undecodable metadata znode');
        return;
      }
      this.logger.warn({ path: key, err: error }, 'metadata read failed; retrying');
      setTimeout(() => void retry(), RETRY_DELAY_MS).unref();
    }
  }

  private readClusterId(gen: number): Promise<void> {
    return this.guarded(
      gen,
      ZNODES.clusterId,
      (zk) => zk.getData(ZNODES.clusterId),
      (r) => {
        if (r)
          this.apply((i) => (i.clusterId === r.data.toString('utf8') ? i : withClusterId(i, r.data.toString('utf8'))));
      },
      () => this.readClusterId(gen),
    );
  }

  private readBrokers(gen: number): Promise<void> {
    const read = (): Promise<void> => this.readBrokers(gen);
    return this.guarded(
      gen,
      ZNODES.brokerIds,
      async (zk) => {
        const watch = this.watcher(gen, ZNODES.brokerIds, read);
        const ids = (await zk.getChildren(ZNODES.brokerIds, watch)) ?? [];
        const offline = new Map<number, ReplicaRef[]>();
        const brokers = await Promise.all(
          ids.map(async (child) => {
            const id = Number(child);
            // Watched for data changes too: a broker states its offline logs in its registration.
            const node = Number.isInteger(id) ? await zk.getData(brokerPath(id), watch) : undefined;
            if (!node) return undefined;
            offline.set(id, decodeOfflineReplicas(id, node.data));
            return decodeBroker(id, node.data);
          }),
        );
        return { brokers: brokers.filter((b): b is BrokerEndpoint => b !== undefined), offline };
      },
      ({ brokers, offline }) => this.apply((i) => withBrokers(i, brokers, offline)),
      read,
    );
  }

  private readController(gen: number): Promise<void> {
    const read = (): Promise<void> => this.readController(gen);
    return this.guarded(
      gen,
      ZNODES.controller,
      async (zk) => {
        const w = this.watcher(gen, ZNODES.controller, read);
        const node = await zk.getData(ZNODES.controller, w);
        if (node) return decodeControllerId(node.data);
        // Not there: watch for its creation (and re-read if it appeared in between).
        if (await zk.exists(ZNODES.controller, w)) return undefined;
        return -1;
      },
      (id) => {
        if (id === undefined) void read();
        else this.apply((i) => (i.controllerId === id ? i : withController(i, id)));
      },
      read,
    );
  }

  private readControllerEpoch(gen: number): Promise<void> {
    const read = (): Promise<void> => this.readControllerEpoch(gen);
    return this.guarded(
      gen,
      ZNODES.controllerEpoch,
      async (zk) => {
        const w = this.watcher(gen, ZNODES.controllerEpoch, read);
        const node = await zk.getData(ZNODES.controllerEpoch, w);
        if (node) return decodeControllerEpoch(node.data);
        await zk.exists(ZNODES.controllerEpoch, w);
        return 0;
      },
      (epoch) => this.apply((i) => (i.controllerEpoch === epoch ? i : withController(i, i.controllerId, epoch))),
      read,
    );
  }

  private readTopics(gen: number): Promise<void> {
    const read = (): Promise<void> => this.readTopics(gen);
    let started: Promise<void>[] = [];
    return this.guarded(
      gen,
      ZNODES.brokerTopics,
      async (zk) => (await zk.getChildren(ZNODES.brokerTopics, this.watcher(gen, ZNODES.brokerTopics, read))) ?? [],
      (names) => {
        const present = new Set(names);
        for (const name of this.current.topics.keys()) {
          if (!present.has(name)) {
            this.forgetTopic(name);
            this.apply((i) => withTopicAssignment(i, name, undefined));
          }
        }
        started = names
          .filter((n) => !this.armedTopics.has(n))
          .map((n) => {
            this.armedTopics.add(n);
            return this.readTopic(gen, n);
          });
      },
      read,
    ).then(() => Promise.all(started).then(() => undefined));
  }

  private readTopic(gen: number, topic: string): Promise<void> {
    const path = topicPath(topic);
    const read = (): Promise<void> => this.readTopic(gen, topic);
    let started: Promise<void>[] = [];
    return this.guarded(
      gen,
      path,
      async (zk) => {
        const node = await zk.getData(path, this.watcher(gen, path, read));
        if (!node) return undefined;
        const { replicas, topicId, moves } = decodeTopic(topic, node.data);
        // A topic written without an id (by an older Samsa or an old Kafka) is told apart by its czxid.
        const id = topicId ?? zxidHex(node.stat.czxid);
        // A new topic (or a new creation of it) enters the image together with its configs (then
        // watched by readTopicConfig).
        const configs =
          this.current.topics.get(topic)?.id === id ? undefined : await this.fetchTopicConfig(gen, zk, topic);
        return { replicas, configs, id, moves };
      },
      (r) => {
        if (!r) {
          this.forgetTopic(topic);
          this.apply((i) => withTopicAssignment(i, topic, undefined));
          return;
        }
        const known = this.current.topics.get(topic);
        if (known && known.id !== r.id) {
          // Deleted and created again while we were not looking: the old creation goes first (its
          // replicas drop their logs), and the new one's partition states are read afresh.
          for (const key of [...this.armedPartitions])
            if (key.startsWith(`${topic}/`)) this.armedPartitions.delete(key);
          this.apply((i) => withTopicAssignment(i, topic, undefined));
        }
        this.apply((i) => {
          const next = withTopicAssignment(i, topic, r.replicas, r.id, r.moves);
          return r.configs ? withTopicConfigs(next, topic, r.configs) : next;
        });
        started = r.replicas
          .map((_, p) => p)
          .filter((p) => !this.armedPartitions.has(`${topic}/${p}`))
          .map((p) => {
            this.armedPartitions.add(`${topic}/${p}`);
            return this.readPartitionState(gen, topic, p);
          });
      },
      read,
    ).then(() => Promise.all(started).then(() => undefined));
  }

  /** Reads a topic's configs and leaves a watch that re-reads them on change (or creation). */
  private async fetchTopicConfig(gen: number, zk: ZkSession, topic: string): Promise<Record<string, string>> {
    const path = topicConfigPath(topic);
    const w = this.watcher(gen, path, () => this.readTopicConfig(gen, topic));
    const node = await zk.getData(path, w);
    if (node) return decodeTopicConfig(topic, node.data);
    await zk.exists(path, w);
    return {};
  }

  private readTopicConfig(gen: number, topic: string): Promise<void> {
    const path = topicConfigPath(topic);
    const read = (): Promise<void> => this.readTopicConfig(gen, topic);
    return this.guarded(
      gen,
      path,
      async (zk) => {
        if (!this.current.topics.has(topic)) return undefined;
        return this.fetchTopicConfig(gen, zk, topic);
      },
      (configs) => {
        if (configs) this.apply((i) => withTopicConfigs(i, topic, configs));
      },
      read,
    );
  }

  private readPartitionState(gen: number, topic: string, partition: number): Promise<void> {
    const path = partitionStatePath(topic, partition);
    const read = (): Promise<void> => this.readPartitionState(gen, topic, partition);
    return this.guarded(
      gen,
      path,
      async (zk) => {
        if (!this.current.topics.has(topic)) return 'gone' as const;
        const w = this.watcher(gen, path, read);
        const node = await zk.getData(path, w);
        if (node)
          return {
            state: decodePartitionState(topic, partition, node.data),
            version: node.stat.version,
            mzxid: zxidHex(node.stat.mzxid),
          };
        // Not created yet (auto-created topic waiting for the controller): watch for it.
        if (await zk.exists(path, w)) return 'retry' as const;
        return 'absent' as const;
      },
      (r) => {
        if (r === 'gone') this.armedPartitions.delete(`${topic}/${partition}`);
        else if (r === 'retry') void read();
        else if (r === 'absent') this.apply((i) => withPartitionState(i, topic, partition, undefined, -1));
        else this.apply((i) => withPartitionState(i, topic, partition, r.state, r.version, r.mzxid));
      },
      read,
    );
  }
}
