/** ZooKeeper wire constants: opcodes, error codes, event types, special xids. */

export const OpCode = {
  notification: 0,
  create: 1,
  delete: 2,
  exists: 3,
  getData: 4,
  setData: 5,
  getACL: 6,
  setACL: 7,
  getChildren: 8,
  sync: 9,
  ping: 11,
  getChildren2: 12,
  check: 13,
  multi: 14,
  create2: 15,
  checkWatches: 17,
  removeWatches: 18,
  createContainer: 19,
  multiRead: 22,
  getEphemerals: 103,
  getAllChildrenNumber: 104,
  auth: 100,
  setWatches: 101,
  setWatches2: 105,
  addWatch: 106,
  whoAmI: 107,
  createSession: -10,
  closeSession: -11,
  error: -1,
} as const;

export const ErrorCode = {
  OK: 0,
  SYSTEMERROR: -1,
  RUNTIMEINCONSISTENCY: -2,
  DATAINCONSISTENCY: -3,
  CONNECTIONLOSS: -4,
  MARSHALLINGERROR: -5,
  UNIMPLEMENTED: -6,
  OPERATIONTIMEOUT: -7,
  BADARGUMENTS: -8,
  APIERROR: -100,
  NONODE: -101,
  NOAUTH: -102,
  BADVERSION: -103,
  NOCHILDRENFOREPHEMERALS: -108,
  NODEEXISTS: -110,
  NOTEMPTY: -111,
  SESSIONEXPIRED: -112,
  INVALIDCALLBACK: -113,
  INVALIDACL: -114,
  AUTHFAILED: -115,
  SESSIONMOVED: -118,
  NOWATCHER: -121,
} as const;

export const EventType = {
  None: -1,
  NodeCreated: 1,
  NodeDeleted: 2,
  NodeDataChanged: 3,
  NodeChildrenChanged: 4,
} as const;

export const KeeperState = { SyncConnected: 3 } as const;

export const Xid = {
  notification: -1,
  ping: -2,
  auth: -4,
  setWatches: -8,
} as const;

export const Perms = { READ: 1, WRITE: 2, CREATE: 4, DELETE: 8, ADMIN: 16, ALL: 31 } as const;

/** Opcodes ZooKeeper 3.8 knows that this server answers with UNIMPLEMENTED (keeping the session). */
export const UNSUPPORTED_ZOOKEEPER_OPCODES: ReadonlySet<number> = new Set([
  16 /* reconfig */, 20 /* deleteContainer */, 21 /* createTTL */, 102 /* sasl */,
]);

/** CreateMode flags accepted by create/create2 (TTL nodes are not supported, as in a default ZooKeeper). */
export const CreateFlags = {
  persistent: 0,
  ephemeral: 1,
  persistentSequential: 2,
  ephemeralSequential: 3,
  container: 4,
} as const;

/** The ephemeralOwner ZooKeeper stores for container nodes (reported as 0 to clients). */
export const CONTAINER_OWNER = -0x8000000000000000n;

export const SERVER_VERSION = '3.8.0-samsa';

/** An expected failure of a request: becomes the reply's error code (and an error txn for writes). */
export class KeeperError extends Error {
  constructor(readonly code: number) {
    super(`keeper error ${code}`);
  }
}
