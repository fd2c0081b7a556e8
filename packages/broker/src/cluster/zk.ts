/**
 * A small promise wrapper over node-zookeeper-client: the only module that touches the library.
 * Watches are one-shot as in ZooKeeper; callers pass a stable function per path (the library keeps
 * one registration per function and path).
 */
import zookeeper from 'node-zookeeper-client';
import type { Client, Event, Stat } from 'node-zookeeper-client';
import type { ZnodeOp } from '../controller/core.js';
import { ZkErrorCode, zkErrorCode, type ControllerZk } from '../controller/zk-edge.js';

export type Watcher = (event: Event) => void;

export interface ZkConnectOptions {
  readonly connectString: string;
  readonly sessionTimeoutMs: number;
  /** How long to wait for the first connection before giving up. */
  readonly connectTimeoutMs: number;
}

export class ZkSession implements ControllerZk {
  private constructor(readonly client: Client) {}

  /** Connects a new session; rejects if no server answers within connectTimeoutMs. */
  static connect(options: ZkConnectOptions): Promise<ZkSession> {
    const client = zookeeper.createClient(options.connectString, {
      sessionTimeout: options.sessionTimeoutMs,
      spinDelay: 200,
      retries: 1,
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        client.close();
        reject(
          new Error(`Could not connect to ZooKeeper at ${options.connectString} within ${options.connectTimeoutMs} ms`),
        );
      }, options.connectTimeoutMs);
      client.once('connected', () => {
        clearTimeout(timer);
        resolve(new ZkSession(client));
      });
      client.connect();
    });
  }

  /** Session id as hex, for logs and ephemeral-owner checks. */
  get sessionId(): string {
    return this.client.getSessionId().toString('hex');
  }

  close(): void {
    this.client.close();
  }

  /** Data and stat, or undefined when the node does not exist (a watch is then not left behind). */
  getData(path: string, watcher?: Watcher): Promise<{ data: Buffer; stat: Stat } | undefined> {
    return new Promise((resolve, reject) => {
      const cb = (error: unknown, data: Buffer, stat: Stat): void => {
        if (zkErrorCode(error) === ZkErrorCode.NO_NODE) resolve(undefined);
        else if (error) reject(error);
        else resolve({ data: data ?? Buffer.alloc(0), stat });
      };
      if (watcher) this.client.getData(path, watcher, cb);
      else this.client.getData(path, cb);
    });
  }

  /** Children, or undefined when the node does not exist. */
  getChildren(path: string, watcher?: Watcher): Promise<string[] | undefined> {
    return new Promise((resolve, reject) => {
      const cb = (error: unknown, children: string[]): void => {
        if (zkErrorCode(error) === ZkErrorCode.NO_NODE) resolve(undefined);
        else if (error) reject(error);
        else resolve(children);
      };
      if (watcher) this.client.getChildren(path, watcher, cb);
      else this.client.getChildren(path, cb);
    });
  }

  /** Stat or undefined; with a watcher, fires on creation, deletion and data change. */
  exists(path: string, watcher?: Watcher): Promise<Stat | undefined> {
    return new Promise((resolve, reject) => {
      const cb = (error: unknown, stat: Stat): void => {
        if (error) reject(error);
        else resolve(stat ?? undefined);
      };
      if (watcher) this.client.exists(path, watcher, cb);
      else this.client.exists(path, cb);
    });
  }

  create(path: string, data: string, mode: 'persistent' | 'ephemeral'): Promise<void> {
    const createMode = mode === 'ephemeral' ? zookeeper.CreateMode.EPHEMERAL : zookeeper.CreateMode.PERSISTENT;
    return new Promise((resolve, reject) => {
      this.client.create(path, Buffer.from(data), createMode, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** Creates a persistent node unless it exists; returns whether this call created it. */
  async createIfAbsent(path: string, data = ''): Promise<boolean> {
    try {
      await this.create(path, data, 'persistent');
      return true;
    } catch (error) {
      if (zkErrorCode(error) === ZkErrorCode.NODE_EXISTS) return false;
      throw error;
    }
  }

  /** Creates a persistent path and any missing parents. */
  mkdirp(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.mkdirp(path, (error) => (error ? reject(error) : resolve()));
    });
  }

  setData(path: string, data: string, version = -1): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.setData(path, Buffer.from(data), version, (error) => (error ? reject(error) : resolve()));
    });
  }

  remove(path: string, version = -1): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.remove(path, version, (error) => (error ? reject(error) : resolve()));
    });
  }

  /**
   * Runs ops atomically. `checks` are version checks placed before the ops (the controller-epoch
   * fence). Rejects with the ZooKeeper exception of the first failing op.
   */
  multi(ops: readonly ZnodeOp[], checks: ReadonlyArray<{ path: string; version: number }> = []): Promise<void> {
    const tx = this.client.transaction();
    // node-zookeeper-client's Transaction turns version 0 into -1 ("any version": `version || -1`,
    // alexguan/node-zookeeper-client#67), which would silently drop the check on a znode's first
    // update. Set the version on the queued op ourselves.
    const queued = (tx as unknown as { ops: Array<{ version?: number }> }).ops;
    const withVersion = (version: number): void => {
      const last = queued[queued.length - 1];
      if (!last || !Array.isArray(queued)) throw new Error('node-zookeeper-client Transaction internals changed (ops)');
      last.version = version;
    };
    for (const c of checks) {
      tx.check(c.path, c.version);
      withVersion(c.version);
    }
    for (const op of ops) {
      if (op.op === 'create') {
        tx.create(
          op.path,
          Buffer.from(op.data),
          op.ephemeral ? zookeeper.CreateMode.EPHEMERAL : zookeeper.CreateMode.PERSISTENT,
        );
      } else if (op.op === 'set') {
        tx.setData(op.path, Buffer.from(op.data), op.expectedVersion);
        withVersion(op.expectedVersion);
      } else {
        tx.remove(op.path, op.expectedVersion);
        withVersion(op.expectedVersion);
      }
    }
    return new Promise((resolve, reject) => {
      tx.commit((error) => (error ? reject(error) : resolve()));
    });
  }
}

/** Splits "h1:p1,h2:p2/chroot" into servers and chroot ("" when none). */
export function splitChroot(connectString: string): { servers: string; chroot: string } {
  const slash = connectString.indexOf('/');
  if (slash < 0) return { servers: connectString, chroot: '' };
  const chroot = connectString.slice(slash).replace(/\/+$/, '');
  return { servers: connectString.slice(0, slash), chroot };
}
