import { describe, expect, it } from 'vitest';
import { errorLine } from '../src/cli.js';
import { producerOptionsFrom } from '../src/commands/producer-properties.js';

describe('--producer-property', () => {
  it("maps Kafka's names onto the SDK's options", () => {
    expect(
      producerOptionsFrom([
        'max.request.size=4194304',
        'linger.ms=0',
        'acks=-1',
        'compression.type=lz4',
        'batch.size = 32768',
      ]),
    ).toEqual({ maxRequestSize: 4_194_304, lingerMs: 0, acks: 'all', compression: 'lz4', batchSize: 32_768 });
  });

  it('refuses unknown names, bad values and pairs without = as usage errors', () => {
    expect(() => producerOptionsFrom(['max.requst.size=1'])).toThrow(/unknown producer property 'max.requst.size'/);
    expect(() => producerOptionsFrom(['linger.ms=soon'])).toThrow(/linger.ms must be an integer from 0 to/);
    expect(() => producerOptionsFrom(['max.request.size=0'])).toThrow(/from 1 to/);
    expect(() => producerOptionsFrom(['compression.type=brotli'])).toThrow(/one of none, gzip, snappy, lz4, zstd/);
    expect(() => producerOptionsFrom(['acks'])).toThrow(/expects key=value/);
    try {
      producerOptionsFrom(['x=1']);
    } catch (err) {
      expect((err as { exitCode: number }).exitCode).toBe(2);
    }
  });
});

describe('errorLine', () => {
  it('prints the error name once', () => {
    expect(errorLine(new Error("InvalidConfig: InvalidConfig: unknown topic setting 'foo'"))).toBe(
      "samsa: InvalidConfig: unknown topic setting 'foo'",
    );
    expect(errorLine(new Error('InvalidTopic: Topic name "a/b" is invalid'))).toBe(
      'samsa: InvalidTopic: Topic name "a/b" is invalid',
    );
  });
});
