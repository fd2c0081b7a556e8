/**
 * @samsa/broker: run a broker (startBroker), its settings with Kafka's names, and the storage tools the
 * `samsa` command offers (log dump, storage benchmark). Everything else is internal; the broker's own
 * tests reach it through '@samsa/broker/internal', which is not for users and may change at any time.
 */
export { startBroker, type RunningBroker } from './broker.js';
export {
  BROKER_SETTINGS,
  TOPIC_SETTINGS,
  loadBrokerSettings,
  validateTopicConfigs,
  type BrokerSettingName,
  type SettingSpec,
  type Settings,
  type TopicSettingName,
} from './config.js';
export { dumpSegment, formatDumpedBatch, type DumpError, type DumpOptions, type DumpedBatch } from './storage/dump.js';
export {
  formatStorageBenchmark,
  runStorageBenchmark,
  type StorageBenchmarkOptions,
  type StorageBenchmarkResult,
  type ThroughputFigure,
} from './storage/bench.js';
