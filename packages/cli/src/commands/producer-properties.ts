import type { CompressionName, ProducerOptions } from '@samsa/client';
import { CliError } from '../errors.js';

type Setter = (options: ProducerOptions, raw: string, key: string) => void;

export const COMPRESSIONS: readonly CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

function integer(min: number, max: number, field: keyof ProducerOptions): Setter {
  return (options, raw, key) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max)
      throw new CliError(`--producer-property ${key} must be an integer from ${min} to ${max}, not '${raw}'`, 2);
    (options as Record<string, unknown>)[field] = n;
  };
}

const INT32_MAX = 2 ** 31 - 1;

/**
 * Kafka's producer settings that the console producer can pass on (as kafka-console-producer's
 * --producer-property does), by their Kafka names, mapped onto the SDK's options.
 */
export const PRODUCER_PROPERTIES: Readonly<Record<string, Setter>> = {
  acks: (options, raw, key) => {
    if (raw !== 'all' && raw !== '-1' && raw !== '0' && raw !== '1')
      throw new CliError(`--producer-property ${key} must be 0, 1, -1 or all, not '${raw}'`, 2);
    options.acks = raw === 'all' || raw === '-1' ? 'all' : raw === '0' ? 0 : 1;
  },
  'batch.size': integer(0, INT32_MAX, 'batchSize'),
  'buffer.memory': integer(1, Number.MAX_SAFE_INTEGER, 'bufferMemory'),
  'compression.type': (options, raw, key) => {
    if (!(COMPRESSIONS as readonly string[]).includes(raw))
      throw new CliError(`--producer-property ${key} must be one of ${COMPRESSIONS.join(', ')}, not '${raw}'`, 2);
    options.compression = raw as CompressionName;
  },
  'delivery.timeout.ms': integer(1, INT32_MAX, 'deliveryTimeoutMs'),
  'enable.idempotence': (options, raw, key) => {
    if (raw !== 'true' && raw !== 'false')
      throw new CliError(`--producer-property ${key} must be true or false, not '${raw}'`, 2);
    options.idempotent = raw === 'true';
  },
  'linger.ms': integer(0, INT32_MAX, 'lingerMs'),
  'max.block.ms': integer(0, INT32_MAX, 'maxBlockMs'),
  'max.in.flight.requests.per.connection': integer(1, INT32_MAX, 'maxInFlightRequests'),
  'max.request.size': integer(1, INT32_MAX, 'maxRequestSize'),
  'request.timeout.ms': integer(1, INT32_MAX, 'requestTimeoutMs'),
  retries: integer(0, INT32_MAX, 'retries'),
};

/** commander's collector for a repeatable `--producer-property key=value`. */
export function collectProducerProperty(pair: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), pair];
}

/** The SDK options the `key=value` pairs name; an unknown key or a bad value is a usage error. */
export function producerOptionsFrom(pairs: readonly string[]): ProducerOptions {
  const options: ProducerOptions = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError(`--producer-property expects key=value, not '${pair}'`, 2);
    const key = pair.slice(0, eq).trim();
    const set = PRODUCER_PROPERTIES[key];
    if (!set)
      throw new CliError(
        `unknown producer property '${key}' (known: ${Object.keys(PRODUCER_PROPERTIES).join(', ')})`,
        2,
      );
    set(options, pair.slice(eq + 1).trim(), key);
  }
  return options;
}
