/** A raw Kafka-protocol connection for tests: Samsa's own codecs, one request at a time. */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { kafka } from '@samsa/protocol/kafka';
import { expect } from 'vitest';
import { waitFor, withTimeout } from './wait.js';

const { KAFKA_APIS, encodeRequest, decodeResponse } = kafka;

export class KafkaTestClient {
  private buffered = Buffer.alloc(0);
  private pending: ((frame: Buffer) => void) | undefined;
  private correlationId = 0;

  constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      if (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readInt32BE(0)) {
        const frame = this.buffered.subarray(4, 4 + this.buffered.readInt32BE(0));
        this.buffered = this.buffered.subarray(4 + frame.length);
        this.pending?.(frame);
      }
    });
  }

  close(): void {
    this.socket.destroy();
  }

  /** Sends one request and decodes its answer, checking the correlation id. */
  async send<T>(apiKey: number, apiVersion: number, body: object): Promise<T> {
    const api = KAFKA_APIS.get(apiKey)!;
    const correlationId = ++this.correlationId;
    const frame = new Promise<Buffer>((resolve) => {
      this.pending = resolve;
    });
    this.socket.write(encodeRequest(api, { apiVersion, correlationId, clientId: 'apis-test' }, body));
    const answer = await withTimeout(frame, 15_000, `${api.name} v${apiVersion}`);
    const decoded = decodeResponse<T>(api, apiVersion, answer);
    expect(decoded.correlationId).toBe(correlationId);
    return decoded.body;
  }
}

/** A KafkaTestClient connected to the Kafka listener at 127.0.0.1:`port`. */
export async function kafkaTestClient(port: number): Promise<KafkaTestClient> {
  const socket = connect({ host: '127.0.0.1', port });
  await withTimeout(once(socket, 'connect'), 10_000, `a connection to the Kafka listener at ${port}`);
  return new KafkaTestClient(socket);
}

/**
 * Waits until the Kafka listener at each of `ports` lists `topic` with a leader for each of its
 * `partitions`. CreateTopics (and KafkaJS's waitForLeaders, which asks the controller) answers once one
 * broker's metadata has the leaders; each other broker learns the topic from the coordinator on its own,
 * a moment later (longer on a loaded machine). A test that then sends requests to chosen brokers waits
 * for this first: in between such a broker answers as Kafka's would, UNKNOWN_TOPIC_OR_PARTITION.
 */
export async function waitForTopicOnEveryBroker(ports: Iterable<number>, topic: string, partitions: number) {
  const clients = await Promise.all([...ports].map(kafkaTestClient));
  const listed = async (client: KafkaTestClient) => {
    const meta = await client.send<kafka.MetadataResponseData>(kafka.ApiKey.Metadata, 9, {
      topics: [{ name: topic }],
      allowAutoTopicCreation: false,
    });
    const t = meta.topics[0];
    return t?.errorCode === 0 && t.partitions.length === partitions && t.partitions.every((p) => p.leaderId >= 0);
  };
  try {
    await waitFor(async () => (await Promise.all(clients.map(listed))).every(Boolean), {
      description: `every broker's Kafka listener to list ${topic} with a leader for each partition`,
    });
  } finally {
    for (const client of clients) client.close();
  }
}
