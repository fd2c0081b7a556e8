/**
 * node-zookeeper-client with promises, for tests. The callbacks of the library are kept underneath (the
 * order in which they fire is part of what conformance tests observe); only the shape is friendlier.
 */
import zookeeper from 'node-zookeeper-client';
import type { ACL, Client, Event, Stat, Transaction } from 'node-zookeeper-client';
import { withTimeout } from './wait.js';

export { zookeeper };
export type { ACL, Event, Stat };

export interface ConnectOptions {
  /** Requested session timeout; the server bounds it to [2, 20] ticks. */
  sessionTimeoutMs?: number;
  /** Reattach to an existing session. */
  sessionId?: Buffer;
  sessionPassword?: Buffer;
  /** Delay between reconnect attempts (the library's spinDelay). */
  spinDelayMs?: number;
  connectTimeoutMs?: number;
}

/** A ZooKeeper error as the client saw it: the server's code name, e.g. 'NO_NODE'. */
export class ZkError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    readonly path?: string,
  ) {
    super(`${codeName}[${code}]${path ? ` ${path}` : ''}`);
  }
}

export interface DataResult {
  data: Buffer | null;
  stat: Stat;
}

export interface ChildrenResult {
  children: string[];
  stat: Stat;
}

export interface MultiOpResult {
  /** The op's type code (1 create, 2 delete, 5 setData, 13 check, -1 error). */
  type: number;
  /** For error results: the op's error code (0 for ops that would have succeeded). */
  err?: number;
  path?: string;
  stat?: Stat;
}

export interface MultiResult {
  /** The error of the first failing op, or null when the transaction committed. */
  error: ZkError | null;
  results: MultiOpResult[];
}

export type Watcher = (event: Event) => void;

export class ZkTestClient {
  private constructor(
    readonly client: Client,
    readonly connectString: string,
  ) {}

  /** Connects and resolves once the session is established ('connected'). */
  static async connect(connectString: string, options: ConnectOptions = {}): Promise<ZkTestClient> {
    const clientOptions: Record<string, unknown> = {
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      spinDelay: options.spinDelayMs ?? 100,
      retries: 0,
    };
    if (options.sessionId) clientOptions.sessionId = options.sessionId;
    if (options.sessionPassword) clientOptions.sessionPassword = options.sessionPassword;
    const client = zookeeper.createClient(connectString, clientOptions);
    const established = new Promise<void>((resolve, reject) => {
      client.once('connected', () => resolve());
      client.once('expired', () => reject(new ZkError(zookeeper.Exception.SESSION_EXPIRED, 'SESSION_EXPIRED')));
    });
    client.connect();
    try {
      await withTimeout(established, options.connectTimeoutMs ?? 10_000, `a ZooKeeper session on ${connectString}`);
    } catch (error) {
      client.close();
      throw error;
    }
    return new ZkTestClient(client, connectString);
  }

  /** The session id as 16 hex digits. */
  sessionIdHex(): string {
    return this.client.getSessionId().toString('hex');
  }

  sessionId(): Buffer {
    return this.client.getSessionId();
  }

  sessionPassword(): Buffer {
    return this.client.getSessionPassword();
  }

  /** The negotiated session timeout. */
  sessionTimeoutMs(): number {
    return this.client.getSessionTimeout();
  }

  create(
    path: string,
    data?: Buffer | null,
    mode: number = zookeeper.CreateMode.PERSISTENT,
    acls?: ACL[],
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      const args: (Buffer | ACL[] | number)[] = [];
      if (data) args.push(data);
      if (acls) args.push(acls);
      args.push(mode);
      const callback = (error: unknown, created: string) => (error ? reject(toZkError(error)) : resolve(created));
      (this.client.create as (...a: unknown[]) => void)(path, ...args, callback);
    });
  }

  getData(path: string, watcher?: Watcher): Promise<DataResult> {
    return new Promise((resolve, reject) => {
      const callback = (error: unknown, data: Buffer, stat: Stat) =>
        error ? reject(toZkError(error)) : resolve({ data: data ?? null, stat });
      if (watcher) this.client.getData(path, watcher, callback);
      else this.client.getData(path, callback);
    });
  }

  setData(path: string, data: Buffer | null, version = -1): Promise<Stat> {
    return new Promise((resolve, reject) => {
      this.client.setData(path, data, version, (error, stat) => (error ? reject(toZkError(error)) : resolve(stat)));
    });
  }

  /** The node's stat, or null when it does not exist. */
  exists(path: string, watcher?: Watcher): Promise<Stat | null> {
    return new Promise((resolve, reject) => {
      const callback = (error: unknown, stat: Stat) => (error ? reject(toZkError(error)) : resolve(stat ?? null));
      if (watcher) this.client.exists(path, watcher, callback);
      else this.client.exists(path, callback);
    });
  }

  remove(path: string, version = -1): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.remove(path, version, (error) => (error ? reject(toZkError(error)) : resolve()));
    });
  }

  getChildren(path: string, watcher?: Watcher): Promise<ChildrenResult> {
    return new Promise((resolve, reject) => {
      const callback = (error: unknown, children: string[], stat: Stat) =>
        error ? reject(toZkError(error)) : resolve({ children, stat });
      if (watcher) this.client.getChildren(path, watcher, callback);
      else this.client.getChildren(path, callback);
    });
  }

  getACL(path: string): Promise<{ acls: ACL[]; stat: Stat }> {
    return new Promise((resolve, reject) => {
      this.client.getACL(path, (error, acls, stat) => (error ? reject(toZkError(error)) : resolve({ acls, stat })));
    });
  }

  setACL(path: string, acls: ACL[], version = -1): Promise<Stat> {
    return new Promise((resolve, reject) => {
      this.client.setACL(path, acls, version, (error, stat) => (error ? reject(toZkError(error)) : resolve(stat)));
    });
  }

  /** Runs a multi; a failed transaction resolves with `error` set and the per-op results. */
  multi(build: (transaction: Transaction) => void): Promise<MultiResult> {
    return new Promise((resolve, reject) => {
      const transaction = this.client.transaction();
      build(transaction);
      transaction.commit((error, results: MultiOpResult[] | undefined) => {
        const failure = error ? toZkError(error) : null;
        if (failure && (!results || !(failure instanceof ZkError))) reject(failure);
        else resolve({ error: failure as ZkError | null, results: results ?? [] });
      });
    });
  }

  /** Closes the session (its ephemerals go) and waits until the connection is gone. */
  async close(timeoutMs = 5_000): Promise<void> {
    const manager = connectionManagerOf(this.client);
    const socket = manager.socket;
    if (!socket || socket.destroyed || manager.state === CONNECTION_CLOSED) return;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.client.close();
    await withTimeout(closed, timeoutMs, 'the ZooKeeper connection to close').catch(() => socket.destroy());
  }

  /**
   * Drops the TCP connection without closing the session and stops reconnecting, as if the client
   * process had died: the server expires the session after its timeout.
   */
  abandon(): void {
    this.suspend();
  }

  /**
   * Like `abandon()`, but the returned function lets the client reconnect again (to the same session),
   * e.g. to see how it learns that its session expired meanwhile.
   */
  suspend(): () => void {
    const manager = connectionManagerOf(this.client);
    const connect = manager.connect;
    manager.connect = () => {};
    manager.socket?.destroy();
    return () => {
      manager.connect = connect;
      manager.connect();
    };
  }
}

/** The library's connection manager: not public API, used only to simulate a dead client. */
interface ConnectionManagerInternals {
  socket?: import('node:net').Socket;
  state: number;
  connect(): void;
}

const CONNECTION_CLOSED = -2;

function connectionManagerOf(client: Client): ConnectionManagerInternals {
  return (client as unknown as { connectionManager: ConnectionManagerInternals }).connectionManager;
}

export function toZkError(error: unknown): ZkError | Error {
  if (error instanceof zookeeper.Exception) return new ZkError(error.getCode(), error.getName(), error.getPath());
  return error instanceof Error ? error : new Error(String(error));
}

/** The error code name of a failing promise, e.g. 'NODE_EXISTS'; throws if the promise resolves. */
export async function errorName(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ZkError) return error.codeName;
    throw error;
  }
  throw new Error('expected a ZooKeeper error, but the request succeeded');
}

/** A zxid or time field of a Stat as a bigint. */
export function long(buffer: Buffer): bigint {
  return buffer.readBigInt64BE(0);
}

/** Codes newer than node-zookeeper-client's Exception table (ZooKeeper's KeeperException.Code). */
const NEWER_CODES: Record<number, string> = {
  [-13]: 'NEW_CONFIG_NO_QUORUM',
  [-14]: 'RECONFIG_IN_PROGRESS',
  [-15]: 'UNKNOWN_SESSION',
  [-118]: 'SESSION_MOVED',
  [-119]: 'NOT_READONLY',
  [-120]: 'EPHEMERAL_ON_LOCAL_SESSION',
  [-121]: 'NO_WATCHER',
  [-122]: 'REQUEST_TIMEOUT',
  [-123]: 'RECONFIG_DISABLED',
  [-124]: 'SESSION_CLOSED_REQUIRE_SASL_AUTH',
  [-125]: 'QUOTA_EXCEEDED',
  [-127]: 'THROTTLED_OP',
};

/** The error-code name of a ZooKeeper code, e.g. -101 -> 'NO_NODE'. */
export function codeName(code: number): string {
  const names = zookeeper.Exception as unknown as Record<string, unknown>;
  for (const [name, value] of Object.entries(names)) if (value === code && /^[A-Z_]+$/.test(name)) return name;
  return NEWER_CODES[code] ?? `CODE_${code}`;
}
