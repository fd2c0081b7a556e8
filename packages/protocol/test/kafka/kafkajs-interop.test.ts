import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { decodeBatches, encodeBatch } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';

/** KafkaJS's and the generic decoder's untyped results. */
// biome-ignore lint/suspicious/noExplicitAny: test-only view of untyped decoder output
type Loose = any;

/**
 * KafkaJS is an independent Kafka client: the requests its own encoders write must decode here as
 * the fields it was given, and the responses encoded here must decode in KafkaJS's decoders.
 */
const require = createRequire(import.meta.url);
const kjs = (path: string) => require(`kafkajs/src/protocol/${path}`);
const { KAFKA_APIS, decodeRequest, encodeResponse } = kafka;
const supported = (k: number) => KAFKA_APIS.get(k);

async function kafkajsFrame(request: { encode(): Promise<unknown> } & object): Promise<Buffer> {
  const frame = await kjs('request')({ correlationId: 77, clientId: 'kjs', request });
  return (frame as { buffer: Buffer }).buffer.subarray(4);
}

function decodeWithKafkajs(apiPath: string, apiKey: number, version: number, body: object): Promise<Loose> {
  const chunks = encodeResponse(KAFKA_APIS.get(apiKey)!, version, 77, body);
  const payload = Buffer.concat(chunks).subarray(8); // size and correlation id
  return kjs(`requests/${apiPath}/v${version}/response`).decode(payload);
}

describe('KafkaJS requests decode here', () => {
  it('Metadata v0-v6', async () => {
    for (let v = 0; v <= 6; v++) {
      const request = kjs(`requests/metadata/v${v}/request`)({ topics: ['a', 'b'], allowAutoTopicCreation: false });
      const decoded = decodeRequest(await kafkajsFrame(request), supported);
      expect(decoded).toMatchObject({
        kind: 'request',
        header: { apiKey: 3, apiVersion: v, correlationId: 77, clientId: 'kjs' },
      });
      expect(decoded.kind === 'request' && (decoded.body as Loose).topics.map((t: Loose) => t.name)).toEqual([
        'a',
        'b',
      ]);
    }
  });

  it('Produce v3 and v7 carry KafkaJS record batches untouched', async () => {
    for (const v of [3, 7]) {
      const request = kjs(`requests/produce/v${v}/request`)({
        acks: -1,
        timeout: 1000,
        compression: 1,
        topicData: [
          {
            topic: 't',
            partitions: [{ partition: 1, messages: [{ key: 'k', value: 'v', headers: { h: 'x' }, timestamp: 5 }] }],
          },
        ],
      });
      const decoded = decodeRequest(await kafkajsFrame(request), supported);
      const body = decoded.kind === 'request' ? (decoded.body as kafka.ProduceRequestData) : undefined;
      expect(body).toMatchObject({
        acks: -1,
        timeoutMs: 1000,
        topicData: [{ name: 't', partitionData: [{ index: 1 }] }],
      });
      const [batch] = decodeBatches(body!.topicData[0]!.partitionData[0]!.records!);
      expect(batch!.compression).toBe('gzip');
      expect(batch!.records.map((r) => [r.key?.toString(), r.value?.toString(), r.headers[0]?.key])).toEqual([
        ['k', 'v', 'h'],
      ]);
    }
  });

  it('Fetch v11 and ListOffsets v3', async () => {
    const fetch = kjs('requests/fetch/v11/request')({
      replicaId: -1,
      maxWaitTime: 100,
      minBytes: 1,
      maxBytes: 1000,
      topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: '12', maxBytes: 500 }] }],
    });
    const decoded = decodeRequest(await kafkajsFrame(fetch), supported);
    expect(decoded.kind === 'request' && decoded.body).toMatchObject({
      isolationLevel: 1,
      topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: 12, partitionMaxBytes: 500 }] }],
    });
    const list = kjs('requests/listOffsets/v3/request')({
      replicaId: -1,
      isolationLevel: 1,
      topics: [{ topic: 't', partitions: [{ partition: 2, timestamp: -2 }] }],
    });
    const offsets = decodeRequest(await kafkajsFrame(list), supported);
    expect(offsets.kind === 'request' && offsets.body).toMatchObject({
      topics: [{ name: 't', partitions: [{ partitionIndex: 2, timestamp: -2 }] }],
    });
  });
});

describe('responses encoded here decode in KafkaJS', () => {
  it('ApiVersions v2 and Metadata v6', async () => {
    const versions = await decodeWithKafkajs('apiVersions', 18, 2, {
      errorCode: 0,
      apiKeys: [{ apiKey: 3, minVersion: 0, maxVersion: 12 }],
    });
    expect(versions.apiVersions).toEqual([{ apiKey: 3, minVersion: 0, maxVersion: 12 }]);
    const metadata = await decodeWithKafkajs('metadata', 3, 6, {
      brokers: [{ nodeId: 1, host: '127.0.0.1', port: 19092, rack: null }],
      clusterId: 'cid',
      controllerId: 1,
      topics: [
        {
          errorCode: 0,
          name: 't',
          partitions: [{ errorCode: 0, partitionIndex: 0, leaderId: 1, replicaNodes: [1], isrNodes: [1] }],
        },
      ],
    });
    expect(metadata.brokers).toEqual([{ nodeId: 1, host: '127.0.0.1', port: 19092, rack: null }]);
    expect(metadata.topicMetadata[0].partitionMetadata[0]).toMatchObject({
      partitionId: 0,
      leader: 1,
      replicas: [1],
      isr: [1],
    });
  });

  it('Fetch v11 with stored batches, and Produce v7', async () => {
    const records = encodeBatch([{ key: Buffer.from('k'), value: Buffer.from('v') }], { now: 1000, baseOffset: 4 });
    const fetched = await decodeWithKafkajs('fetch', 1, 11, {
      responses: [
        {
          topic: 't',
          partitions: [
            {
              partitionIndex: 0,
              errorCode: 0,
              highWatermark: 5,
              lastStableOffset: 5,
              logStartOffset: 0,
              abortedTransactions: [],
              records,
            },
          ],
        },
      ],
    });
    const partition = fetched.responses[0].partitions[0];
    expect(partition.highWatermark).toBe('5');
    expect(partition.messages.map((m: Loose) => [m.offset, m.key.toString(), m.value.toString()])).toEqual([
      ['4', 'k', 'v'],
    ]);
    const produced = await decodeWithKafkajs('produce', 0, 7, {
      responses: [
        {
          name: 't',
          partitionResponses: [{ index: 0, errorCode: 0, baseOffset: 9, logAppendTimeMs: -1, logStartOffset: 0 }],
        },
      ],
    });
    expect(produced.topics[0].partitions[0]).toMatchObject({ partition: 0, errorCode: 0, baseOffset: '9' });
  });
});
