import { describe, expect, it } from 'vitest';
import { SamsaError } from '@samsa/protocol';
import {
  BROKER_SETTINGS,
  brokerSettingIsSet,
  effectiveTopicSettings,
  parseHostPort,
  parseProperties,
  resolveSettings,
  settingsFromEnv,
  validateTopicConfigs,
} from '../src/config.js';

describe('broker settings', () => {
  it('layers defaults < file < env < flags, with Kafka names and defaults', () => {
    const file = parseProperties(
      '# a comment\nbroker.id=1\nlog.retention.ms = 1000\nnum.partitions: 4\n',
      'server.properties',
    );
    const env = settingsFromEnv({ SAMSA_LOG_RETENTION_MS: '2000', UNRELATED: 'x' });
    const settings = resolveSettings(BROKER_SETTINGS, file, env, { 'broker.id': '7' });
    expect(settings['broker.id']).toBe(7);
    expect(settings['log.retention.ms']).toBe(2000);
    expect(settings['num.partitions']).toBe(4);
    expect(settings['message.max.bytes']).toBe(1048588);
    expect(settings['replica.lag.time.max.ms']).toBe(30000);
  });

  it("throttles the log cleaner by default, unlike Kafka; Kafka's unlimited (Double.MAX_VALUE) is accepted", () => {
    expect(resolveSettings(BROKER_SETTINGS)['log.cleaner.io.max.bytes.per.second']).toBe(30 * 1024 * 1024);
    const kafka = resolveSettings(BROKER_SETTINGS, { 'log.cleaner.io.max.bytes.per.second': '1.7976931348623157E308' });
    expect(kafka['log.cleaner.io.max.bytes.per.second']).toBe(Number.MAX_VALUE);
    expect(() => resolveSettings(BROKER_SETTINGS, { 'log.cleaner.io.max.bytes.per.second': '0' })).toThrow(
      /log.cleaner.io.max.bytes.per.second must be a number/,
    );
  });

  it("tells the cleaner's budget left at its default from one the user set, even to the default's value", () => {
    const key = 'log.cleaner.io.max.bytes.per.second';
    expect(brokerSettingIsSet(resolveSettings(BROKER_SETTINGS, { 'broker.id': '1' }), key)).toBe(false);
    expect(brokerSettingIsSet(resolveSettings(BROKER_SETTINGS, { [key]: '31457280' }), key)).toBe(true);
    expect(
      brokerSettingIsSet(
        resolveSettings(BROKER_SETTINGS, {}, settingsFromEnv({ SAMSA_LOG_CLEANER_IO_MAX_BYTES_PER_SECOND: '1e6' })),
        key,
      ),
    ).toBe(true);
    // A copy is not tracked: a value other than the default counts as set.
    const copy = { ...resolveSettings(BROKER_SETTINGS) };
    expect(brokerSettingIsSet(copy, key)).toBe(false);
    expect(brokerSettingIsSet({ ...copy, [key]: 1e6 }, key)).toBe(true);
  });

  it('rejects unknown keys and bad values with InvalidConfig naming the key', () => {
    expect(() => resolveSettings(BROKER_SETTINGS, { 'log.retention.mss': '1' })).toThrow(
      /unknown setting 'log.retention.mss'/,
    );
    expect(() => resolveSettings(BROKER_SETTINGS, { 'num.partitions': '0' })).toThrow(
      /num.partitions must be an integer/,
    );
    expect(() => resolveSettings(BROKER_SETTINGS, { 'auto.create.topics.enable': 'yes' })).toThrow(SamsaError);
    expect(() => parseProperties('just words', 'f')).toThrow(/f:1/);
  });

  it('topic settings take broker defaults and validated overrides', () => {
    const broker = resolveSettings(BROKER_SETTINGS, { 'log.retention.ms': '5000', 'min.insync.replicas': '2' });
    const topic = effectiveTopicSettings(broker, validateTopicConfigs({ 'retention.bytes': '100' }));
    expect(topic['retention.ms']).toBe(5000);
    expect(topic['retention.bytes']).toBe(100);
    expect(topic['min.insync.replicas']).toBe(2);
    expect(() => validateTopicConfigs({ 'retention.msx': '1' })).toThrow(/unknown topic setting/);
    expect(() => validateTopicConfigs({ 'message.timestamp.type': 'Now' })).toThrow(/one of CreateTime, LogAppendTime/);
  });

  it('parses host:port including IPv6', () => {
    expect(parseHostPort('127.0.0.1:9092', 'listeners')).toEqual({ host: '127.0.0.1', port: 9092 });
    expect(parseHostPort('[::1]:9093', 'listeners')).toEqual({ host: '::1', port: 9093 });
    expect(() => parseHostPort('localhost', 'listeners')).toThrow(/host:port/);
  });
});
