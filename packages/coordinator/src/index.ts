export { startCoordinator, type CoordinatorOptions, type RunningCoordinator } from './server.js';
export { parseCoordinatorArgs, runCoordinator, type CoordinatorArgs } from './cli.js';
export {
  CoordinatorCore,
  KeeperError,
  statOf,
  type CoreOptions,
  type Output,
  type SnapshotData,
  type Txn,
  type TxnOp,
} from './core.js';
export * as jute from './jute.js';
export { ErrorCode, EventType, OpCode, Perms, Xid } from './protocol.js';
export { invalidPathReason } from './paths.js';
