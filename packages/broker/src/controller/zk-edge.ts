/**
 * What the controller driver needs from a ZooKeeper session, as an interface: the broker passes its
 * ZkSession (cluster/zk.ts), a test or simulation an in-memory store with ZooKeeper's rules. Also the
 * error codes and zxid format both sides share. No I/O here.
 */
import type { ZnodeOp } from './core.js';

export const ZkErrorCode = Object.freeze({
  CONNECTION_LOSS: -4,
  NO_NODE: -101,
  BAD_VERSION: -103,
  NODE_EXISTS: -110,
  NOT_EMPTY: -111,
  SESSION_EXPIRED: -112,
});

/** The code of a ZooKeeper exception, or undefined for other errors. */
export function zkErrorCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A zxid (8 bytes big-endian in a Stat) as 16 hex digits: fixed width, so strings compare like the numbers. */
export function zxidHex(zxid: Buffer | undefined): string {
  return zxid ? Buffer.from(zxid).toString('hex').padStart(16, '0') : '';
}

/** The parts of a znode's Stat the controller reads. */
export interface ZnodeStat {
  readonly czxid: Buffer;
  readonly mzxid: Buffer;
  readonly version: number;
}

/** A one-shot watch, as in ZooKeeper; pass a stable function per path (one registration per function and path). */
export type ZnodeWatcher = (event: unknown) => void;

/** The coordinator as the controller driver uses it (ZkSession satisfies it). */
export interface ControllerZk {
  /** Data and stat, or undefined when the node does not exist. */
  getData(path: string, watcher?: ZnodeWatcher): Promise<{ data: Buffer; stat: ZnodeStat } | undefined>;
  /** Children, or undefined when the node does not exist. */
  getChildren(path: string, watcher?: ZnodeWatcher): Promise<string[] | undefined>;
  exists(path: string, watcher?: ZnodeWatcher): Promise<ZnodeStat | undefined>;
  /**
   * Runs ops atomically, after the version `checks`; rejects with an error whose `code` is the
   * failing op's ZkErrorCode.
   */
  multi(ops: readonly ZnodeOp[], checks?: ReadonlyArray<{ path: string; version: number }>): Promise<void>;
}
