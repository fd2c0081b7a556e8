/**
 * A broker's membership in the cluster: its ZooKeeper session, its registration under
 * /brokers/ids/<id>, its campaign for /controller (running the ControllerDriver while it wins), and
 * its MetadataCache. On session expiry it opens a new session and does all of it again.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ErrorCodes, SamsaError } from '@samsa/protocol';
import type { Logger } from 'pino';
import { assignReplicas, validateNewTopic } from '../controller/assignment.js';
import {
  type AutoLeaderRebalance,
  ControllerDriver,
  type NewTopic,
  type PartitionResult,
  type TopicResult,
} from '../controller/driver.js';
import type { ControllerInput, PartitionReassignment, TopicPartitionRef } from '../controller/core.js';
import {
  PERSISTENT_PATHS,
  ZNODES,
  brokerPath,
  decodeControllerEpoch,
  decodeTopic,
  decodeControllerId,
  encodeBroker,
  encodeController,
  encodeControllerEpoch,
  encodeTopicAssignment,
  encodeTopicConfig,
  newTopicId,
  topicConfigPath,
  topicPath,
} from '../controller/znodes.js';
import { formatListenerEndpoint, type ListenerEndpoint } from '../listeners.js';
import { MetadataCache } from './metadata-cache.js';
import {
  decodeProducerIdBlock,
  encodeProducerIdBlock,
  nextProducerIdBlock,
  PRODUCER_ID_BLOCK_PATH,
  type ProducerIdBlock,
} from './producer-ids.js';
import { type RoleChange, currentRoles } from './metadata.js';
import { ZkErrorCode, zkErrorCode, zxidHex } from '../controller/zk-edge.js';
import { ZkSession, splitChroot } from './zk.js';

export interface ClusterMemberOptions {
  readonly brokerId: number;
  /** The inter-broker endpoint (published in /brokers/ids/<id> as host/port). */
  readonly host: string;
  readonly port: number;
  readonly rack?: string;
  /** Every advertised listener (published as Kafka's `endpoints`); absent: only PLAINTEXT at host:port. */
  readonly endpoints?: readonly ListenerEndpoint[];
  /** ZooKeeper connect string, host:port[,host:port...][/chroot]. */
  readonly connectString: string;
  /** Kafka's zookeeper.session.timeout.ms default. */
  readonly sessionTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly logger: Logger;
  /** Clock for the /controller timestamp (default Date.now). */
  readonly now?: () => number;
  /**
   * Called with the coordinator's cluster id on every join, before registering; throwing stops the
   * member (the broker checks it against its data directory's meta.properties).
   */
  readonly verifyClusterId?: (clusterId: string) => Promise<void>;
  /** While controller, move leadership back to preferred replicas on its own (auto.leader.rebalance.enable). */
  readonly autoLeaderRebalance?: AutoLeaderRebalance;
}

/** Errors after which rejoining is pointless: the member stops and emits 'fatal'. */
const FATAL_JOIN_ERRORS = new Set(['DuplicateBrokerIdError', 'InconsistentClusterIdError']);

/** Another live session holds /brokers/ids/<id>: two brokers were configured with the same id. */
export class DuplicateBrokerIdError extends Error {
  constructor(
    readonly brokerId: number,
    readonly ownerSessionId: string,
  ) {
    super(
      `Broker id ${brokerId} is already registered by another live broker ` +
        `(ZooKeeper session 0x${ownerSessionId}); broker ids must be unique`,
    );
    this.name = 'DuplicateBrokerIdError';
  }
}

export interface ClusterMemberEvents {
  /** This broker became (true) or stopped being (false) the controller. */
  controller: [isController: boolean, controllerEpoch: number];
  /** Role changes of this broker's partitions (from the metadata cache). */
  roles: [changes: RoleChange[]];
  /** Unrecoverable: the registration was taken by another broker. The member has stopped. */
  fatal: [error: Error];
}

export const DEFAULT_SESSION_TIMEOUT_MS = 18_000;
const CAMPAIGN_RETRY_MS = 500;

export class ClusterMember extends EventEmitter<ClusterMemberEvents> {
  readonly brokerId: number;
  readonly metadata: MetadataCache;
  /**
   * The czxid of this run's registration znode (16 hex digits): Kafka's broker epoch. Partition
   * states written before it (a smaller mzxid) belong to an earlier run of this broker.
   */
  registrationZxid = '';
  private zk: ZkSession | undefined;
  private driver: ControllerDriver | undefined;
  private closed = false;
  private campaigning: Promise<void> | undefined;
  private campaignAgain = false;
  private chrootChecked = false;
  /** The partitions this broker reports offline (setOfflineReplicas), written into every registration. */
  private offlineReplicas: TopicPartitionRef[] = [];
  private reportChain: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private readonly onControllerZnode = (): void => void this.campaign();

  private constructor(private readonly options: ClusterMemberOptions) {
    super();
    this.brokerId = options.brokerId;
    this.log = options.logger.child({ brokerId: options.brokerId });
    this.metadata = new MetadataCache(options.brokerId, this.log);
    this.metadata.on('roles', (changes) => this.emit('roles', changes));
  }

  /**
   * Connects, registers, loads metadata and campaigns for controller. Rejects with
   * DuplicateBrokerIdError if the id is taken by a live broker.
   */
  static async start(options: ClusterMemberOptions): Promise<ClusterMember> {
    const member = new ClusterMember(options);
    await member.join();
    return member;
  }

  get isController(): boolean {
    return this.driver?.isActive ?? false;
  }

  /** The epoch this broker controls with, or -1 when it is not the controller. */
  get controllerEpoch(): number {
    return this.driver?.isActive ? this.driver.controllerEpoch : -1;
  }

  /**
   * The roles this broker holds now, as RoleChanges: call once after start() to open partition logs,
   * then follow the 'roles' event (nothing is missed in between: both happen in the same tick).
   */
  currentRoles(): RoleChange[] {
    return currentRoles(this.brokerId, this.metadata.image);
  }

  /** Hex id of the current ZooKeeper session (for logs). */
  get sessionId(): string | undefined {
    return this.zk?.sessionId;
  }

  /**
   * CreateTopics, answered by the controller only; other brokers answer NotController (retriable)
   * and the client retries at the controller named in metadata.
   */
  async createTopics(topics: readonly NewTopic[], options: { validateOnly?: boolean } = {}): Promise<TopicResult[]> {
    const driver = this.driver;
    if (!driver?.isActive) return topics.map((t) => notController(t.name));
    return driver.createTopics(topics, options.validateOnly ?? false);
  }

  /** CreatePartitions, answered by the controller only (see createTopics). */
  async createPartitions(
    topics: ReadonlyArray<{ readonly name: string; readonly count: number }>,
    options: { validateOnly?: boolean } = {},
  ): Promise<TopicResult[]> {
    const driver = this.driver;
    if (!driver?.isActive) return topics.map((t) => notController(t.name));
    return driver.createPartitions(topics, options.validateOnly ?? false);
  }

  /** DeleteTopics, answered by the controller only (see createTopics). */
  async deleteTopics(names: readonly string[]): Promise<TopicResult[]> {
    const driver = this.driver;
    if (!driver?.isActive) return names.map(notController);
    return driver.deleteTopics(names);
  }

  /**
   * Preferred leader election for the named partitions (all when empty), answered by the controller
   * only: elsewhere it rejects with NotController, and the client retries at the controller.
   */
  async electPreferredLeaders(partitions: readonly TopicPartitionRef[]): Promise<PartitionResult[]> {
    const driver = this.driver;
    if (!driver?.isActive)
      throw new SamsaError(
        ErrorCodes.NOT_CONTROLLER,
        'This broker is not the controller; send leader elections to the controller',
      );
    return driver.electPreferredLeaders(partitions);
  }

  /**
   * AlterPartitionReassignments, answered by the controller only (NotController elsewhere, and the
   * client retries at the controller), and the removal of reassignment throttles.
   */
  async reassignPartitions(
    reassignments: readonly PartitionReassignment[],
    throttleBytesPerSecond: number,
    clearThrottleTopics: readonly string[],
  ): Promise<{ results: PartitionResult[]; throttlesCleared: TopicResult[] }> {
    const driver = this.driver;
    if (!driver?.isActive)
      throw new SamsaError(
        ErrorCodes.NOT_CONTROLLER,
        'This broker is not the controller; send reassignments to the controller',
      );
    const results =
      reassignments.length > 0 ? await driver.reassignPartitions(reassignments, throttleBytesPerSecond) : [];
    const throttlesCleared = await driver.clearReassignmentThrottles(clearThrottleTopics);
    return { results, throttlesCleared };
  }

  /** IncrementalAlterConfigs / AlterConfigs on one topic, answered by the controller only. */
  async alterTopicConfigs(
    input: Omit<Extract<ControllerInput, { type: 'AlterTopicConfigs' }>, 'type'>,
  ): Promise<TopicResult> {
    const driver = this.driver;
    if (!driver?.isActive) return notController(input.topic);
    return driver.alterTopicConfigs(input);
  }

  /** A leader's ISR proposal (controller only); the seam replication will call through an RPC. */
  async alterIsr(input: Omit<Extract<ControllerInput, { type: 'AlterIsr' }>, 'type'>): Promise<TopicResult> {
    const driver = this.driver;
    if (!driver?.isActive) return notController(input.topic);
    return driver.alterIsr(input);
  }

  /**
   * Auto-creation for Metadata requests, on any broker. The controller creates the topic itself;
   * another broker writes the assignment and config (as Kafka's AdminZkClient does) and the
   * controller, watching /brokers/topics, elects the leaders. TopicAlreadyExists means another broker
   * won the race, which is fine for the caller.
   */
  async autoCreateTopic(topic: NewTopic): Promise<TopicResult> {
    if (this.driver?.isActive) return (await this.driver.createTopics([topic]))[0]!;
    const zk = this.zk;
    if (!zk)
      return {
        name: topic.name,
        errorCode: ErrorCodes.LEADER_NOT_AVAILABLE.code,
        errorMessage: 'This broker is reconnecting to the coordinator',
      };
    const live = [...this.metadata.image.brokers.keys()];
    const rejection = validateNewTopic(topic.name, topic.numPartitions, topic.replicationFactor, live.length);
    if (rejection) return { name: topic.name, errorCode: rejection.error.code, errorMessage: rejection.message };
    if (this.metadata.image.topics.has(topic.name)) return alreadyExists(topic.name);
    const replicas = assignReplicas(live, topic.numPartitions, topic.replicationFactor, randomInt(0, 2 ** 31 - 1));
    try {
      await zk.multi([
        { op: 'create', path: topicConfigPath(topic.name), data: encodeTopicConfig(topic.configs ?? {}) },
        { op: 'create', path: topicPath(topic.name), data: encodeTopicAssignment(replicas, newTopicId()) },
      ]);
    } catch (error) {
      if (zkErrorCode(error) === ZkErrorCode.NODE_EXISTS) return alreadyExists(topic.name);
      this.log.warn({ topic: topic.name, err: error }, 'auto-creation failed');
      return {
        name: topic.name,
        errorCode: ErrorCodes.LEADER_NOT_AVAILABLE.code,
        errorMessage: `Could not write the topic to the coordinator: ${String(error)}`,
      };
    }
    this.log.info({ topic: topic.name, replicas }, 'wrote assignment of auto-created topic');
    return { name: topic.name, errorCode: ErrorCodes.NONE.code, errorMessage: '' };
  }

  /**
   * The topic's partition count as the coordinator holds it now (one read of its znode, no watch), or
   * undefined when the topic does not exist there. The metadata image learns a created topic (or added
   * partitions) a moment after this; the Kafka listener asks here before it waits for one. Rejects
   * while this broker has no coordinator session.
   */
  async topicPartitionCount(topic: string): Promise<number | undefined> {
    const zk = this.zk;
    if (!zk)
      throw new SamsaError(ErrorCodes.COORDINATOR_NOT_AVAILABLE, 'This broker is reconnecting to the coordinator');
    const node = await zk.getData(topicPath(topic));
    return node && decodeTopic(topic, node.data).replicas.length;
  }

  /**
   * Takes the next block of producer ids for this broker: a version-checked update of
   * /latest_producer_id_block, retried when another broker took a block at the same time.
   */
  async allocateProducerIdBlock(): Promise<ProducerIdBlock> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const zk = this.zk;
      if (!zk) {
        throw new SamsaError(ErrorCodes.COORDINATOR_NOT_AVAILABLE, 'This broker is reconnecting to the coordinator');
      }
      const current = await zk.getData(PRODUCER_ID_BLOCK_PATH);
      const block = nextProducerIdBlock(current && decodeProducerIdBlock(current.data), this.brokerId);
      const data = encodeProducerIdBlock(block);
      try {
        if (current === undefined) await zk.multi([{ op: 'create', path: PRODUCER_ID_BLOCK_PATH, data }]);
        else await zk.multi([{ op: 'set', path: PRODUCER_ID_BLOCK_PATH, data, expectedVersion: current.stat.version }]);
        this.log.info({ start: block.start, end: block.end }, 'took a block of producer ids');
        return block;
      } catch (error) {
        const code = zkErrorCode(error);
        if (code !== ZkErrorCode.NODE_EXISTS && code !== ZkErrorCode.BAD_VERSION) throw error;
      }
    }
    throw new SamsaError(
      ErrorCodes.COORDINATOR_NOT_AVAILABLE,
      'Could not take a block of producer ids: other brokers kept taking them first',
    );
  }

  /**
   * States in this broker's registration the partitions whose logs it cannot serve now (a full disk,
   * an I/O error), the whole set each time. The controller moves their leadership and ISR membership
   * elsewhere; every broker's metadata shows them as offline replicas. Kept for re-registrations. A
   * write that fails (no session right now) is logged; the next call or registration writes the set.
   */
  setOfflineReplicas(partitions: readonly TopicPartitionRef[]): Promise<void> {
    this.offlineReplicas = [...partitions];
    const write = this.reportChain.then(async () => {
      const zk = this.zk;
      if (!zk || this.closed) return;
      await zk.setData(brokerPath(this.brokerId), this.registrationData());
      this.log.info({ offline: this.offlineReplicas.map((r) => `${r.topic}-${r.partition}`) }, 'reported offline logs');
    });
    this.reportChain = write.catch((err: unknown) => this.log.warn({ err }, 'could not report offline logs'));
    return write;
  }

  /** Leaves the cluster: resigns, closes the session (ZooKeeper deletes the ephemerals). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopController();
    this.metadata.detach();
    const zk = this.zk;
    this.zk = undefined;
    // Ending the session deletes /brokers/ids/<id> and /controller at once (no wait for a timeout).
    zk?.close();
    this.log.info('left the cluster');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- session lifecycle ----

  private connect(connectString: string): Promise<ZkSession> {
    return ZkSession.connect({
      connectString,
      sessionTimeoutMs: this.options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
      connectTimeoutMs: this.options.connectTimeoutMs ?? 30_000,
    });
  }

  /** Creates the connect string's chroot if it is missing (as Kafka does), through a short session. */
  private async ensureChroot(): Promise<void> {
    const { servers, chroot } = splitChroot(this.options.connectString);
    if (chroot === '') return;
    const zk = await this.connect(servers);
    try {
      await zk.mkdirp(chroot);
    } finally {
      zk.close();
    }
  }

  private async join(): Promise<void> {
    if (!this.chrootChecked) {
      await this.ensureChroot();
      this.chrootChecked = true;
    }
    const zk = await this.connect(this.options.connectString);
    if (this.closed) {
      zk.close();
      return;
    }
    this.zk = zk;
    zk.client.once('expired', () => void this.onExpired(zk));
    this.log.info({ sessionId: zk.sessionId }, 'coordinator session established');
    try {
      for (const path of PERSISTENT_PATHS) await zk.createIfAbsent(path);
      await this.ensureClusterId(zk);
      await this.register(zk);
      await this.metadata.attach(zk);
      await this.campaign();
    } catch (error) {
      this.zk = undefined;
      this.metadata.detach();
      zk.close();
      throw error;
    }
  }

  private async onExpired(zk: ZkSession): Promise<void> {
    if (this.closed || this.zk !== zk) return;
    this.log.warn({ sessionId: zk.sessionId }, 'coordinator session expired; rejoining');
    this.stopController();
    this.metadata.detach();
    this.zk = undefined;
    zk.close();
    while (!this.closed) {
      try {
        await this.join();
        return;
      } catch (error) {
        if (error instanceof Error && FATAL_JOIN_ERRORS.has(error.name)) {
          this.closed = true;
          this.log.fatal({ err: error }, 'cannot rejoin');
          this.emit('fatal', error);
          return;
        }
        this.log.warn({ err: error }, 'rejoin failed; retrying');
      }
    }
  }

  private async ensureClusterId(zk: ZkSession): Promise<void> {
    // Kafka's cluster id: 16 random bytes, URL-safe base64 without padding. Created once.
    if (await zk.createIfAbsent(ZNODES.clusterId, randomBytes(16).toString('base64url'))) {
      this.log.info('created cluster id');
    }
    if (this.options.verifyClusterId) {
      const node = await zk.getData(ZNODES.clusterId);
      await this.options.verifyClusterId(node?.data.toString('utf8') ?? '');
    }
  }

  private registrationData(): string {
    const { host, port, rack, endpoints } = this.options;
    return encodeBroker(
      { id: this.brokerId, host, port, ...(rack ? { rack } : {}), ...(endpoints ? { endpoints } : {}) },
      this.offlineReplicas,
    );
  }

  private async register(zk: ZkSession): Promise<void> {
    const { host, port, endpoints } = this.options;
    const path = brokerPath(this.brokerId);
    const data = this.registrationData();
    // A broker restarted faster than its session timeout finds its previous run's registration still
    // there: wait for that session to expire (as the controller must see it go and come back) rather
    // than fail. A registration that outlives that wait belongs to another live broker with our id.
    const deadline = Date.now() + 2 * (this.options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS) + 5_000;
    for (let waited = false; ; waited = true) {
      try {
        await zk.create(path, data, 'ephemeral');
        break;
      } catch (error) {
        if (zkErrorCode(error) !== ZkErrorCode.NODE_EXISTS) throw error;
        const node = await zk.getData(path);
        const owner = node?.stat.ephemeralOwner.toString('hex');
        if (owner === zk.sessionId) break;
        if (Date.now() > deadline) throw new DuplicateBrokerIdError(this.brokerId, owner ?? '?');
        if (!waited)
          this.log.warn(
            { ownerSession: owner },
            'an earlier registration of this broker id is still live; waiting for its session to expire',
          );
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    const stat = await zk.exists(path);
    this.registrationZxid = zxidHex(stat?.czxid);
    this.log.info(
      {
        host,
        port,
        ...(endpoints ? { endpoints: endpoints.map(formatListenerEndpoint) } : {}),
        registrationZxid: this.registrationZxid,
      },
      'registered',
    );
  }

  // ---- controller election ----

  /** Runs one campaign at a time; a watch firing during a campaign schedules one more. */
  private campaign(): Promise<void> {
    if (this.campaigning) {
      this.campaignAgain = true;
      return this.campaigning;
    }
    this.campaigning = (async () => {
      do {
        this.campaignAgain = false;
        try {
          await this.campaignOnce();
        } catch (error) {
          if (this.closed) return;
          // Typically a lost connection: try again shortly (expiry is handled by onExpired).
          this.log.warn({ err: error }, 'controller campaign failed; retrying');
          setTimeout(() => void this.campaign(), CAMPAIGN_RETRY_MS).unref();
        }
      } while (this.campaignAgain && !this.closed);
    })().finally(() => (this.campaigning = undefined));
    return this.campaigning;
  }

  private async campaignOnce(): Promise<void> {
    const zk = this.zk;
    if (!zk || this.closed) return;
    const current = await zk.getData(ZNODES.controller, this.onControllerZnode);
    if (current) {
      const ours =
        decodeControllerId(current.data) === this.brokerId &&
        current.stat.ephemeralOwner.toString('hex') === zk.sessionId;
      if (!ours) this.stopController();
      return;
    }
    this.stopController();
    // Kafka's election: create /controller and bump /controller_epoch in one multi, the bump checked
    // against the version just read, so exactly one broker wins each epoch.
    let epochNode = await zk.getData(ZNODES.controllerEpoch);
    if (!epochNode) {
      await zk.createIfAbsent(ZNODES.controllerEpoch, encodeControllerEpoch(0));
      epochNode = await zk.getData(ZNODES.controllerEpoch);
      if (!epochNode) throw new Error(`${ZNODES.controllerEpoch} vanished`);
    }
    const epoch = decodeControllerEpoch(epochNode.data) + 1;
    const version = epochNode.stat.version;
    try {
      await zk.multi([
        {
          op: 'create',
          path: ZNODES.controller,
          data: encodeController(this.brokerId, (this.options.now ?? Date.now)()),
          ephemeral: true,
        },
        { op: 'set', path: ZNODES.controllerEpoch, data: encodeControllerEpoch(epoch), expectedVersion: version },
      ]);
    } catch (error) {
      const code = zkErrorCode(error);
      if (code === ZkErrorCode.NODE_EXISTS || code === ZkErrorCode.BAD_VERSION) {
        // Lost to another broker; the watch set above (or a fresh one) tells us when it goes away.
        this.campaignAgain = true;
        return;
      }
      throw error;
    }
    // Watch our own /controller from here on: its deletion (session loss, manual removal) means resign.
    await zk.exists(ZNODES.controller, this.onControllerZnode);
    this.log.info({ controllerEpoch: epoch }, 'elected controller');
    const driver = new ControllerDriver({
      zk,
      brokerId: this.brokerId,
      controllerEpoch: epoch,
      epochZkVersion: version + 1,
      logger: this.options.logger, // the driver adds brokerId itself
      randomSeed: () => randomInt(0, 2 ** 31 - 1),
      ...(this.options.autoLeaderRebalance ? { autoLeaderRebalance: this.options.autoLeaderRebalance } : {}),
      onResign: (reason) => {
        if (this.driver !== driver) return;
        this.driver = undefined;
        this.emit('controller', false, epoch);
        this.log.warn({ err: reason }, 'controller resigned; re-campaigning');
        // Give up /controller if this session still owns it, so the next election can run.
        void this.releaseControllerZnode(zk).finally(() => void this.campaign());
      },
    });
    this.driver = driver;
    this.emit('controller', true, epoch);
    try {
      await driver.start();
    } catch (error) {
      // Could not load or act on the cluster: step down so that someone (maybe this broker) retries cleanly.
      if (this.driver === driver) this.stopController();
      await this.releaseControllerZnode(zk);
      throw error;
    }
  }

  private async releaseControllerZnode(zk: ZkSession): Promise<void> {
    try {
      const node = await zk.getData(ZNODES.controller);
      if (node && node.stat.ephemeralOwner.toString('hex') === zk.sessionId)
        await zk.remove(ZNODES.controller, node.stat.version);
    } catch (error) {
      this.log.warn({ err: error }, 'could not release /controller');
    }
  }

  private stopController(): void {
    const driver = this.driver;
    if (!driver) return;
    this.driver = undefined;
    driver.resign();
    this.emit('controller', false, driver.controllerEpoch);
  }
}

function notController(name: string): TopicResult {
  return {
    name,
    errorCode: ErrorCodes.NOT_CONTROLLER.code,
    errorMessage: 'This broker is not the controller; send topic administration to the controller',
  };
}

function alreadyExists(name: string): TopicResult {
  return { name, errorCode: ErrorCodes.TOPIC_ALREADY_EXISTS.code, errorMessage: `Topic '${name}' already exists` };
}
