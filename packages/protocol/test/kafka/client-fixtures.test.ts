import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeBatches } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';

/**
 * Requests captured from real clients talking to a Samsa Kafka listener
 * (scripts/capture-kafka-fixtures.mjs): kcat 1.7.1 / librdkafka 2.0.2, KafkaJS 2, sarama 1.22.1 with
 * its default version and with V1_0_0_0, kafka-python 2.0.2; for the group APIs, consumer groups of
 * KafkaJS (with its admin listing, describing and deleting), confluent-kafka-python, kafka-python and
 * kcat -G (captured with the broker advertising the proxy's address, so every connection went through
 * it). Each must decode, and encoding what was decoded must give back the client's very bytes.
 */
interface Fixture {
  readonly client: string;
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly hex: string;
}

const fixtures = JSON.parse(
  readFileSync(new URL('./fixtures/client-requests.json', import.meta.url), 'utf8'),
) as Fixture[];
const { KAFKA_APIS, ApiKey, decodeRequest, encodeRequest, decodeMessageSet } = kafka;

function decode(f: Fixture): Extract<kafka.DecodedRequest, { kind: 'request' }> {
  const decoded = decodeRequest(Buffer.from(f.hex, 'hex'), (k) => KAFKA_APIS.get(k));
  if (decoded.kind !== 'request') throw new Error('not a request');
  return decoded;
}

describe('requests captured from real clients', () => {
  it.each(fixtures.map((f) => [`${f.client} ${KAFKA_APIS.get(f.apiKey)?.name} v${f.apiVersion}`, f] as const))(
    '%s decodes and re-encodes to the same bytes',
    (_name, f) => {
      const { header, api, body } = decode(f);
      expect(header).toMatchObject({ apiKey: f.apiKey, apiVersion: f.apiVersion });
      const again = encodeRequest(api, header, body as object).subarray(4);
      expect(again.toString('hex')).toBe(f.hex);
    },
  );

  it('produce requests carry the records the clients were given', () => {
    const produce = fixtures.filter((f) => f.apiKey === ApiKey.Produce);
    expect(produce.map((f) => `${f.client} v${f.apiVersion}`)).toEqual(
      expect.arrayContaining(['kcat-produce v7', 'kafkajs v7', 'sarama-default v0', 'sarama-v1 v3', 'kafka-python v7']),
    );
    for (const f of produce) {
      const body = decode(f).body as kafka.ProduceRequestData;
      expect(body.acks, f.client).toBe(-1);
      const records = body.topicData[0]!.partitionData[0]!.records!;
      const values =
        f.apiVersion < 3
          ? decodeMessageSet(records).map((m) => m.value!.toString())
          : decodeBatches(records).flatMap((b) => b.records.map((r) => r.value!.toString()));
      expect(values.length, f.client).toBeGreaterThan(0);
      expect(
        values.every((v) => /^(v\d?|value-\d)$/.test(v)),
        `${f.client}: ${values}`,
      ).toBe(true);
    }
  });

  it('librdkafka asks ApiVersions v3 (flexible, header v2) first', () => {
    const first = fixtures.find((f) => f.client === 'kcat-produce')!;
    const { header, body } = decode(first);
    expect(header.apiVersion).toBe(3);
    expect(body).toMatchObject({ clientSoftwareName: 'librdkafka', clientSoftwareVersion: '2.0.2' });
  });
});
