export * from './storage/index.js';
export { startBroker, type RunningBroker } from './broker.js';
export {
  BROKER_SETTINGS,
  TOPIC_SETTINGS,
  listenerConfig,
  loadBrokerSettings,
  parseHostPort,
  parseListeners,
  type ListenerConfig,
  validateTopicConfigs,
  type BrokerSettingName,
  type SettingSpec,
  type Settings,
  type TopicSettingName,
} from './config.js';
export * from './cluster/index.js';
export * from './controller/index.js';
