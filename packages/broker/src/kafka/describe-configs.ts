import { ErrorCodes } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import {
  BROKER_SETTINGS,
  TOPIC_DEFAULT_FROM_BROKER,
  effectiveTopicSettings,
  type BrokerSettingName,
  type SettingSpec,
  type TopicSettingName,
} from '../config.js';
import type { BrokerContext } from '../server/context.js';

/**
 * DescribeConfigs for topics (a topic's effective settings: its own overrides over the broker's
 * defaults) and for this broker (its settings). Values are strings, as Kafka reports them; a setting
 * without a value (none configured) is null.
 */
export function describeConfigs(
  ctx: BrokerContext,
  request: kafka.DescribeConfigsRequestData,
): kafka.DescribeConfigsResponseData {
  return {
    throttleTimeMs: 0,
    results: request.resources.map((resource) => {
      const base = { resourceType: resource.resourceType, resourceName: resource.resourceName };
      const wanted = (name: string) => resource.configurationKeys === null || resource.configurationKeys.includes(name);
      if (resource.resourceType === kafka.RESOURCE_TYPE_TOPIC) {
        const topic = ctx.member.metadata.image.topics.get(resource.resourceName);
        if (!topic)
          return failed(base, ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code, `unknown topic ${resource.resourceName}`);
        const configs = describeTopicConfigs(ctx, topic.configs).filter((c) => wanted(c.name));
        return { ...base, errorCode: 0, errorMessage: null, configs };
      }
      if (resource.resourceType === kafka.RESOURCE_TYPE_BROKER) {
        if (resource.resourceName !== '' && resource.resourceName !== String(ctx.brokerId))
          return failed(
            base,
            ErrorCodes.INVALID_REQUEST.code,
            `this is broker ${ctx.brokerId}; ask broker ${resource.resourceName}`,
          );
        const configs = Object.entries(BROKER_SETTINGS as Record<string, SettingSpec>)
          .filter(([name]) => wanted(name))
          .map(([name, spec]) => {
            const value = ctx.settings[name as keyof typeof BROKER_SETTINGS];
            const isDefault = value === spec.default;
            return described(
              name,
              value,
              isDefault ? kafka.CONFIG_SOURCE_DEFAULT : kafka.CONFIG_SOURCE_STATIC_BROKER,
              isDefault,
              BROKER_CONFIG_READ_ONLY,
            );
          });
        return { ...base, errorCode: 0, errorMessage: null, configs };
      }
      return failed(base, ErrorCodes.INVALID_REQUEST.code, `resource type ${resource.resourceType} is not supported`);
    }),
  };
}

/**
 * A topic's effective configs, given its own (`overrides`): each with where its value comes from, the
 * topic, the broker's configuration, or Kafka's default (DescribeConfigs, and CreateTopics v5+).
 */
export function describeTopicConfigs(
  ctx: BrokerContext,
  overrides: Readonly<Record<string, string>>,
): kafka.DescribedConfig[] {
  return Object.entries(effectiveTopicSettings(ctx.settings, overrides)).map(([name, value]) => {
    if (Object.hasOwn(overrides, name))
      return described(name, value, kafka.CONFIG_SOURCE_TOPIC, false, TOPIC_CONFIG_READ_ONLY);
    // Not set on the topic: the broker's default for it, set in its configuration or Kafka's own.
    const brokerKey = TOPIC_DEFAULT_FROM_BROKER[name as TopicSettingName] as BrokerSettingName | undefined;
    const fromBroker = brokerKey !== undefined && ctx.settings[brokerKey] !== BROKER_SETTINGS[brokerKey].default;
    return described(
      name,
      value,
      fromBroker ? kafka.CONFIG_SOURCE_STATIC_BROKER : kafka.CONFIG_SOURCE_DEFAULT,
      !fromBroker,
      TOPIC_CONFIG_READ_ONLY,
    );
  });
}

/** A topic's configs change through AlterConfigs and IncrementalAlterConfigs (tools offer to edit them). */
const TOPIC_CONFIG_READ_ONLY = false;
/** A broker's settings change by restart: AlterConfigs on a broker resource is INVALID_REQUEST. */
const BROKER_CONFIG_READ_ONLY = true;

function described(
  name: string,
  value: unknown,
  configSource: number,
  isDefault: boolean,
  readOnly: boolean,
): kafka.DescribedConfig {
  return {
    name,
    value: value === undefined ? null : String(value),
    readOnly,
    isDefault,
    configSource,
    isSensitive: false,
    synonyms: [],
    configType: 0,
    documentation: null,
  };
}

function failed(
  base: { resourceType: number; resourceName: string },
  errorCode: number,
  errorMessage: string,
): kafka.DescribeConfigsResponseData['results'][number] {
  return { ...base, errorCode, errorMessage, configs: [] };
}
