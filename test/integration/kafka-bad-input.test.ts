/**
 * Hostile and broken Kafka-protocol input against a real broker process: every case ends in a clean
 * answer or a closed connection, the broker keeps serving, and no acknowledged record is lost.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa } from '@samsa/client';
import { encodeBatch } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import { LocalCluster } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';
import { withTimeout } from '../helpers/wait.js';
import { available, run, toolPath } from '../kafka/tools.js';

const { ApiKey, KAFKA_APIS, encodeRequest, decodeResponse } = kafka;
const api = (key: number) => KAFKA_APIS.get(key)!;

let cluster: LocalCluster;
let kafkaPort: number;
let samsa: Samsa;
const topic = `kafka-bad-input-${process.pid}`;

beforeAll(async () => {
  kafkaPort = await freePort();
  cluster = await LocalCluster.start({
    brokers: 1,
    brokerSettingsFor: (b) => ({ listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${kafkaPort}` }),
  });
  samsa = new Samsa({ brokers: cluster.bootstrap });
  await samsa.admin().createTopics([{ topic, numPartitions: 1, replicationFactor: 1 }]);
  // The SDK retries until the broker has taken up the partition's leadership; raw requests do not.
  const producer = samsa.producer({ acks: 'all' });
  await producer.send({ topic, value: 'ready' });
  await producer.close();
}, 90_000);

afterAll(async () => {
  await samsa?.close();
  await cluster?.close();
});

/** A raw connection: collects response frames and notices when the broker closes it. */
class RawConnection {
  private buffered = Buffer.alloc(0);
  readonly frames: Buffer[] = [];
  readonly closed: Promise<void>;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      while (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readInt32BE(0)) {
        const size = this.buffered.readInt32BE(0);
        this.frames.push(this.buffered.subarray(4, 4 + size));
        this.buffered = this.buffered.subarray(4 + size);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  static async open(): Promise<RawConnection> {
    const socket = connect({ host: '127.0.0.1', port: kafkaPort });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawConnection(socket);
  }

  async frame(index: number): Promise<Buffer> {
    await withTimeout(
      (async () => {
        while (this.frames.length <= index) await new Promise<void>((resolve) => this.waiters.push(resolve));
      })(),
      10_000,
      `response ${index}`,
    );
    return this.frames[index]!;
  }

  expectClosed(): Promise<void> {
    return withTimeout(this.closed, 10_000, 'the broker to close the connection');
  }
}

const apiVersionsV0 = (correlationId: number) =>
  encodeRequest(api(ApiKey.ApiVersions), { apiVersion: 0, correlationId, clientId: 't' }, {});
const metadataV1 = (correlationId: number) =>
  encodeRequest(api(ApiKey.Metadata), { apiVersion: 1, correlationId, clientId: 't' }, { topics: [{ name: topic }] });

function produceV3(correlationId: number, value: string, acks = -1, partition = 0): Buffer {
  const records = encodeBatch([{ value: Buffer.from(value) }], { now: Date.now() });
  return encodeRequest(
    api(ApiKey.Produce),
    { apiVersion: 3, correlationId, clientId: 't' },
    {
      transactionalId: null,
      acks,
      timeoutMs: 5000,
      topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
    },
  );
}

async function expectBrokerServes(): Promise<void> {
  const c = await RawConnection.open();
  c.socket.write(apiVersionsV0(1));
  const { correlationId, body } = decodeResponse<kafka.ApiVersionsResponseData>(
    api(ApiKey.ApiVersions),
    0,
    await c.frame(0),
  );
  expect(correlationId).toBe(1);
  expect(body.errorCode).toBe(0);
  c.socket.destroy();
  expect(cluster.broker(1).isRunning()).toBe(true);
}

describe('bad input on the Kafka listener', () => {
  const acknowledged: string[] = [];

  it('answers pipelined requests in order, and nothing for acks=0', async () => {
    const c = await RawConnection.open();
    c.socket.write(
      Buffer.concat([
        apiVersionsV0(10),
        produceV3(11, 'zero', 0),
        metadataV1(12),
        produceV3(13, 'first'),
        apiVersionsV0(14),
      ]),
    );
    const ids = await Promise.all([0, 1, 2, 3].map(async (i) => (await c.frame(i)).readInt32BE(0)));
    expect(ids).toEqual([10, 12, 13, 14]);
    const produced = decodeResponse<kafka.ProduceResponseData>(api(ApiKey.Produce), 3, c.frames[2]!).body;
    expect(produced.responses[0]!.partitionResponses[0]!.errorCode).toBe(0);
    acknowledged.push('first');
    c.socket.destroy();
  });

  it('closes the connection after a failed acks=0 Produce (the client gets no answer to learn it from)', async () => {
    const c = await RawConnection.open();
    // Partition 5 of a 1-partition topic: UNKNOWN_TOPIC_OR_PARTITION, which acks=0 cannot be told.
    c.socket.write(Buffer.concat([apiVersionsV0(80), produceV3(81, 'nowhere', 0, 5), apiVersionsV0(82)]));
    await c.expectClosed();
    expect(c.frames.map((f) => f.readInt32BE(0))).toEqual([80]);
    await expectBrokerServes();
  });

  it('SASL on this PLAINTEXT listener is answered ILLEGAL_SASL_STATE, as by Kafka; the connection stays', async () => {
    const c = await RawConnection.open();
    c.socket.write(
      Buffer.concat([
        encodeRequest(
          api(ApiKey.SaslHandshake),
          { apiVersion: 1, correlationId: 90, clientId: 't' },
          { mechanism: 'PLAIN' },
        ),
        encodeRequest(
          api(ApiKey.SaslAuthenticate),
          { apiVersion: 2, correlationId: 91, clientId: 't' },
          { authBytes: Buffer.from('\u0000u\u0000p') },
        ),
        apiVersionsV0(92),
      ]),
    );
    const handshake = decodeResponse<kafka.SaslHandshakeResponseData>(api(ApiKey.SaslHandshake), 1, await c.frame(0));
    expect(handshake).toEqual({ correlationId: 90, body: { errorCode: 34, mechanisms: [] } });
    const authenticate = decodeResponse<kafka.SaslAuthenticateResponseData>(
      api(ApiKey.SaslAuthenticate),
      2,
      await c.frame(1),
    );
    expect(authenticate.body.errorCode).toBe(34);
    expect((await c.frame(2)).readInt32BE(0)).toBe(92);
    c.socket.destroy();
  });

  it('kcat configured for SASL_PLAINTEXT is told the listener does not authenticate', async (context) => {
    const kcat = toolPath('kcat');
    if (!available('kcat', kcat !== undefined)) return context.skip();
    const sasl = ['security.protocol=SASL_PLAINTEXT', 'sasl.mechanisms=PLAIN', 'sasl.username=u', 'sasl.password=p'];
    const { code, stderr } = await run(
      kcat!,
      ['-b', `127.0.0.1:${kafkaPort}`, '-L', '-m', '3', ...sasl.flatMap((x) => ['-X', x])],
      { timeoutMs: 30_000 },
    );
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/SASL state/);
  });

  it('ApiVersions at an unknown version gets the v0 answer, UNSUPPORTED_VERSION; the connection stays', async () => {
    const c = await RawConnection.open();
    const frame = apiVersionsV0(20);
    frame.writeInt16BE(99, 6); // the request's api version
    c.socket.write(Buffer.concat([frame, apiVersionsV0(21)]));
    const answer = decodeResponse<kafka.ApiVersionsResponseData>(api(ApiKey.ApiVersions), 0, await c.frame(0));
    expect(answer.correlationId).toBe(20);
    expect(answer.body.errorCode).toBe(35);
    expect(answer.body.apiKeys.find((k) => k.apiKey === ApiKey.ApiVersions)).toEqual({
      apiKey: 18,
      minVersion: 0,
      maxVersion: 3,
    });
    expect((await c.frame(1)).readInt32BE(0)).toBe(21);
    c.socket.destroy();
  });

  const closes: [string, (c: RawConnection) => void][] = [
    ['a size past socket.request.max.bytes', (c) => c.socket.write(Buffer.from([0x0c, 0x80, 0, 0]))],
    ['a negative size', (c) => c.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xfe]))],
    ['an unknown API key', (c) => c.socket.write(Buffer.from('0000000a03e7000000000005ffff', 'hex'))],
    ['an unsupported Metadata version', (c) => c.socket.write(Buffer.from('0000000a00030063000000050000', 'hex'))],
    [
      'a request cut short inside its frame (truncated fields)',
      (c) => c.socket.write(Buffer.from('0000000600030001000000', 'hex').subarray(0, 10)) && c.socket.end(),
    ],
    ['a frame whose body is garbage', (c) => c.socket.write(Buffer.from('0000000c0000000300000007ffff0102', 'hex'))],
    [
      'a truncated frame and a half-close',
      (c) => {
        c.socket.write(Buffer.from('00000064000300', 'hex'));
        c.socket.end();
      },
    ],
  ];
  it.each(closes)('closes the connection on %s; the broker keeps serving', async (_name, send) => {
    const c = await RawConnection.open();
    send(c);
    await c.expectClosed();
    await expectBrokerServes();
  });

  it('answers a valid request, then closes on the garbage after it', async () => {
    const c = await RawConnection.open();
    c.socket.write(Buffer.concat([produceV3(30, 'before-garbage'), Buffer.from('00000005deadbeef00', 'hex')]));
    const produced = decodeResponse<kafka.ProduceResponseData>(api(ApiKey.Produce), 3, await c.frame(0));
    expect(produced.correlationId).toBe(30);
    expect(produced.body.responses[0]!.partitionResponses[0]!.errorCode).toBe(0);
    acknowledged.push('before-garbage');
    await c.expectClosed();
  });

  it('a client that disconnects mid-request and mid-response leaves the broker serving', async () => {
    for (let i = 0; i < 5; i++) {
      const c = await RawConnection.open();
      const frame = produceV3(40 + i, `torn-${i}`);
      c.socket.write(frame.subarray(0, frame.length - 7)); // never completed: nothing appended
      c.socket.destroy();
      const d = await RawConnection.open();
      d.socket.write(Buffer.concat([produceV3(50 + i, `left-${i}`), metadataV1(60 + i)]));
      d.socket.destroy(); // gone before the answers: the records may or may not be in, none acknowledged
    }
    await expectBrokerServes();
  });

  it('loses no acknowledged record', async () => {
    const c = await RawConnection.open();
    c.socket.write(produceV3(70, 'last'));
    expect(
      decodeResponse<kafka.ProduceResponseData>(api(ApiKey.Produce), 3, await c.frame(0)).body.responses[0]!
        .partitionResponses[0]!.errorCode,
    ).toBe(0);
    acknowledged.push('last');
    c.socket.destroy();
    const consumer = samsa.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 });
    await consumer.assign([{ topic }]);
    const seen: string[] = [];
    for await (const m of consumer.messages({ signal: AbortSignal.timeout(20_000) })) {
      seen.push(m.value!.toString());
      if (m.value!.toString() === 'last') break;
    }
    await consumer.close();
    for (const value of acknowledged) expect(seen).toContain(value);
    expect(seen.filter((v) => v.startsWith('torn-'))).toEqual([]);
    expect(cluster.broker(1).process?.output()).toMatch(/closing kafka connection/);
  });
});
