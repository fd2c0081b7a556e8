/**
 * An in-memory coordinator with ZooKeeper's rules for what the controller driver uses (ControllerZk):
 * versions, czxid/mzxid, parents must exist, no deleting a node with children, atomic multi() with
 * version checks, and one-shot watches (children and data). Every call completes within microtasks,
 * so a seeded schedule alone decides the order of events.
 */
import type { ZnodeOp } from '../../src/controller/core.js';
import { type ControllerZk, ZkErrorCode, type ZnodeStat, type ZnodeWatcher } from '../../src/controller/zk-edge.js';

interface Znode {
  data: string;
  version: number;
  readonly czxid: number;
  mzxid: number;
}

export class ZkError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'ZkError';
  }
}

const zxidBytes = (zxid: number): Buffer => {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt(zxid));
  return buf;
};

export class FakeZk implements ControllerZk {
  readonly nodes = new Map<string, Znode>();
  private zxid = 0;
  private readonly childWatches = new Map<string, Set<ZnodeWatcher>>();
  private readonly dataWatches = new Map<string, Set<ZnodeWatcher>>();
  /** Failed multi() calls, by reason. */
  failedWrites = 0;

  constructor(paths: readonly string[]) {
    for (const p of paths) this.nodes.set(p, { data: '', version: 0, czxid: 0, mzxid: 0 });
  }

  async getData(path: string, watcher?: ZnodeWatcher): Promise<{ data: Buffer; stat: ZnodeStat } | undefined> {
    const node = this.nodes.get(path);
    if (node && watcher) this.watch(this.dataWatches, path, watcher);
    return node && { data: Buffer.from(node.data), stat: this.stat(node) };
  }

  async getChildren(path: string, watcher?: ZnodeWatcher): Promise<string[] | undefined> {
    if (!this.nodes.has(path)) return undefined;
    if (watcher) this.watch(this.childWatches, path, watcher);
    return this.children(path);
  }

  async exists(path: string, watcher?: ZnodeWatcher): Promise<ZnodeStat | undefined> {
    if (watcher) this.watch(this.dataWatches, path, watcher);
    const node = this.nodes.get(path);
    return node && this.stat(node);
  }

  async multi(ops: readonly ZnodeOp[], checks: ReadonlyArray<{ path: string; version: number }> = []): Promise<void> {
    this.apply(ops, checks);
  }

  /** Runs ops atomically (all or none) and fires the watches they trigger; throws ZkError on the first failing op. */
  apply(ops: readonly ZnodeOp[], checks: ReadonlyArray<{ path: string; version: number }> = []): void {
    const zxid = this.zxid + 1;
    const copy = new Map(this.nodes);
    const fail = (code: number, message: string): never => {
      this.failedWrites++;
      throw new ZkError(code, message);
    };
    for (const c of checks) {
      const node = copy.get(c.path);
      if (!node) fail(ZkErrorCode.NO_NODE, `NO_NODE ${c.path}`);
      else if (node.version !== c.version) fail(ZkErrorCode.BAD_VERSION, `BAD_VERSION ${c.path}`);
    }
    const fired: Array<[Map<string, Set<ZnodeWatcher>>, string]> = [];
    for (const op of ops) {
      const cur = copy.get(op.path);
      if (op.op === 'create') {
        if (cur) fail(ZkErrorCode.NODE_EXISTS, `NODE_EXISTS ${op.path}`);
        if (!copy.has(parentOf(op.path))) fail(ZkErrorCode.NO_NODE, `NO_NODE parent of ${op.path}`);
        copy.set(op.path, { data: op.data, version: 0, czxid: zxid, mzxid: zxid });
        fired.push([this.childWatches, parentOf(op.path)], [this.dataWatches, op.path]);
      } else if (op.op === 'set') {
        if (!cur) fail(ZkErrorCode.NO_NODE, `NO_NODE ${op.path}`);
        const node = cur as Znode;
        if (op.expectedVersion !== -1 && op.expectedVersion !== node.version)
          fail(ZkErrorCode.BAD_VERSION, `BAD_VERSION ${op.path} ${op.expectedVersion} != ${node.version}`);
        copy.set(op.path, { ...node, data: op.data, version: node.version + 1, mzxid: zxid });
        fired.push([this.dataWatches, op.path]);
      } else {
        if (!cur) fail(ZkErrorCode.NO_NODE, `NO_NODE ${op.path}`);
        if (op.expectedVersion !== -1 && op.expectedVersion !== (cur as Znode).version)
          fail(ZkErrorCode.BAD_VERSION, `BAD_VERSION ${op.path}`);
        if ([...copy.keys()].some((k) => k.startsWith(`${op.path}/`)))
          fail(ZkErrorCode.NOT_EMPTY, `NOT_EMPTY ${op.path}`);
        copy.delete(op.path);
        fired.push([this.childWatches, parentOf(op.path)], [this.dataWatches, op.path]);
      }
    }
    this.zxid = zxid;
    this.nodes.clear();
    for (const [k, v] of copy) this.nodes.set(k, v);
    for (const [watches, path] of fired) this.fire(watches, path);
  }

  children(path: string): string[] {
    const prefix = `${path}/`;
    return [...this.nodes.keys()]
      .filter((k) => k.startsWith(prefix) && !k.slice(prefix.length).includes('/'))
      .map((k) => k.slice(prefix.length));
  }

  private stat(node: Znode): ZnodeStat {
    return { czxid: zxidBytes(node.czxid), mzxid: zxidBytes(node.mzxid), version: node.version };
  }

  private watch(watches: Map<string, Set<ZnodeWatcher>>, path: string, watcher: ZnodeWatcher): void {
    const set = watches.get(path) ?? new Set<ZnodeWatcher>();
    watches.set(path, set);
    set.add(watcher);
  }

  /** One-shot: a watch fires once, and is gone. */
  private fire(watches: Map<string, Set<ZnodeWatcher>>, path: string): void {
    const set = watches.get(path);
    if (!set) return;
    watches.delete(path);
    for (const watcher of set) watcher({ path });
  }
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}
