export {
  DEFAULT_LOG_CONFIG,
  UNLIMITED,
  isCompacted,
  resolveLogConfig,
  type CleanupPolicy,
  type LogConfig,
} from './config.js';
export { LogCleaner, type CleanableLog, type LogCleanerSettings, type LogCleanerTotals } from './log-cleaner.js';
export { InlineCompute } from './cleaner-compute.js';
export {
  ADAPTIVE_MAX_DOUBLINGS,
  initialCleanerBudget,
  nextCleanerBudget,
  type CleanerBudgetConfig,
  type CleanerBudgetEvent,
  type CleanerBudgetState,
} from './cleaner-budget.js';
export {
  CLEANER_STEPS,
  CleanerCheckpoint,
  readCleanerCheckpoint,
  type CleanOptions,
  type CleanStats,
  type CleanerStep,
} from './cleaner.js';
export {
  AbortedTransactions,
  MarkerTracker,
  MarkerType,
  OffsetMap,
  chooseLogToClean,
  cleanableSection,
  groupSegments,
  retainRecord,
  type CleanableSection,
  type CompactionConfig,
} from './cleaner-plan.js';
export {
  KafkaStorageError,
  OffsetOutOfRangeError,
  RecordListTooLargeError,
  RecordTooLargeError,
  UnexpectedAppendOffsetError,
  ioErrorCode,
} from './errors.js';
export { deleteDirectory, partitionDirName, removeDeletedDirectories, segmentFileStem } from './files.js';
export { ReadBufferPool } from './read-buffers.js';
export { TailBudget } from './tail-budget.js';
export { BROKER_WRITEBACK_SLOTS, WritebackSlots } from './writeback-slots.js';
export {
  BROKER_TAIL_MAX_BYTES,
  EARLIEST_TIMESTAMP,
  LATEST_TIMESTAMP,
  PartitionLog,
  openPartitionLog,
  type AppendResult,
  type LogState,
  type PartitionLogOptions,
  type ReadResult,
} from './log.js';
export { dumpSegment, formatDumpedBatch, type DumpError, type DumpOptions, type DumpedBatch } from './dump.js';
export {
  buildBenchmarkBatch,
  formatStorageBenchmark,
  runStorageBenchmark,
  type StorageBenchmarkOptions,
  type StorageBenchmarkResult,
  type ThroughputFigure,
} from './bench.js';
