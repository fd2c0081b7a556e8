import { connect, createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { kafka } from '@samsa/protocol/kafka';
import pino from 'pino';
import { KafkaConnection, type ServeRequest } from '../../src/kafka/connection.js';

const { ApiKey, KAFKA_APIS, encodeRequest, encodeResponse } = kafka;
const apiVersions = KAFKA_APIS.get(ApiKey.ApiVersions)!;
const logger = pino({ level: 'silent' });
const servers: Server[] = [];

afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A KafkaConnection on a real loopback socket, served by `serve`; returns the client side. */
async function open(
  serve: ServeRequest,
  options: {
    maxInFlight?: number;
    maxRequestBytes?: number;
    maxInFlightBytes?: number;
    oneAtATime?: (r: kafka.DecodedRequest) => boolean;
  } = {},
) {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    new KafkaConnection(socket, {
      maxRequestBytes: options.maxRequestBytes ?? 1 << 20,
      maxInFlight: options.maxInFlight ?? 64,
      ...(options.maxInFlightBytes !== undefined ? { maxInFlightBytes: options.maxInFlightBytes } : {}),
      ...(options.oneAtATime ? { oneAtATime: options.oneAtATime } : {}),
      supported: (k) => KAFKA_APIS.get(k),
      serve,
      logger,
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const client = connect({ port, host: '127.0.0.1' });
  const frames: Buffer[] = [];
  let buffered = Buffer.alloc(0);
  client.on('data', (d: Buffer) => {
    buffered = Buffer.concat([buffered, d]);
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
      frames.push(buffered.subarray(4, 4 + buffered.readInt32BE(0)));
      buffered = buffered.subarray(4 + buffered.readInt32BE(0));
    }
  });
  const closed = new Promise<void>((r) => client.on('close', () => r()));
  await new Promise<void>((r) => client.once('connect', () => r()));
  return { client, frames, closed };
}

const request = (correlationId: number) =>
  encodeRequest(apiVersions, { apiVersion: 0, correlationId, clientId: 'c' }, {});
const answer = (correlationId: number) => encodeResponse(apiVersions, 0, correlationId, { errorCode: 0, apiKeys: [] });

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(condition()).toBe(true);
}

describe('KafkaConnection', () => {
  it('answers in request order although later requests finish first, and releases after writing', async () => {
    const released: number[] = [];
    const serve: ServeRequest = async (r) => {
      const id = r.header.correlationId;
      await new Promise((resolve) => setTimeout(resolve, (5 - id) * 10)); // the last finishes first
      return { chunks: answer(id), release: () => released.push(id) };
    };
    const { client, frames } = await open(serve);
    client.write(Buffer.concat([1, 2, 3, 4, 5].map(request)));
    await until(() => frames.length === 5);
    expect(frames.map((f) => f.readInt32BE(0))).toEqual([1, 2, 3, 4, 5]);
    await until(() => released.length === 5);
    expect(released).toEqual([1, 2, 3, 4, 5]);
    client.destroy();
  });

  it('reassembles frames split at any byte, and skips requests without a response', async () => {
    const serve: ServeRequest = async (r) => ({
      chunks: r.header.correlationId === 2 ? null : answer(r.header.correlationId),
    });
    const { client, frames } = await open(serve);
    const bytes = Buffer.concat([1, 2, 3].map(request));
    for (let i = 0; i < bytes.length; i += 3) {
      client.write(bytes.subarray(i, i + 3));
      await new Promise((r) => setImmediate(r));
    }
    await until(() => frames.length === 2);
    expect(frames.map((f) => f.readInt32BE(0))).toEqual([1, 3]);
    client.destroy();
  });

  it('serves at most maxInFlight requests at once', async () => {
    let inService = 0;
    let most = 0;
    const serve: ServeRequest = async (r) => {
      inService++;
      most = Math.max(most, inService);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inService--;
      return { chunks: answer(r.header.correlationId) };
    };
    const { client, frames } = await open(serve, { maxInFlight: 4 });
    client.write(Buffer.concat(Array.from({ length: 200 }, (_, i) => request(i))));
    await until(() => frames.length === 200);
    expect(most).toBe(4);
    expect(frames.map((f) => f.readInt32BE(0))).toEqual(Array.from({ length: 200 }, (_, i) => i));
    client.destroy();
  });

  it('keeps the request bytes in service within maxInFlightBytes, but always serves one request', async () => {
    let inService = 0;
    let most = 0;
    const serve: ServeRequest = async (r) => {
      inService++;
      most = Math.max(most, inService);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inService--;
      return { chunks: answer(r.header.correlationId) };
    };
    const frameBytes = request(0).length - 4;
    const { client, frames } = await open(serve, { maxInFlightBytes: frameBytes * 3 + 1 });
    client.write(Buffer.concat(Array.from({ length: 50 }, (_, i) => request(i))));
    await until(() => frames.length === 50);
    expect(most).toBe(3);
    client.destroy();
    const tiny = await open(serve, { maxInFlightBytes: 1 });
    tiny.client.write(Buffer.concat([request(1), request(2)]));
    await until(() => tiny.frames.length === 2);
    tiny.client.destroy();
  });

  it('serves one-at-a-time requests one after another, others beside them', async () => {
    const running = new Set<number>();
    const started: number[] = [];
    let overlapped = false;
    const serve: ServeRequest = async (r) => {
      const id = r.header.correlationId;
      if (id % 2 === 0 && [...running].some((x) => x % 2 === 0)) overlapped = true;
      running.add(id);
      started.push(id);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running.delete(id);
      return { chunks: answer(id) };
    };
    const { client, frames } = await open(serve, { oneAtATime: (r) => r.header.correlationId % 2 === 0 });
    client.write(Buffer.concat(Array.from({ length: 20 }, (_, i) => request(i))));
    await until(() => frames.length === 20);
    expect(overlapped).toBe(false);
    // The others did not queue behind them: every odd one started before the third even one.
    expect(Math.max(...[1, 3, 5, 7, 9, 11, 13, 15, 17, 19].map((id) => started.indexOf(id)))).toBeLessThan(
      started.indexOf(4),
    );
    expect(frames.map((f) => f.readInt32BE(0))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    client.destroy();
  });

  it('closes on an oversized frame without reading it, after answering what came before', async () => {
    const serve: ServeRequest = async (r) => ({ chunks: answer(r.header.correlationId) });
    const { client, frames, closed } = await open(serve, { maxRequestBytes: 1024 });
    client.write(Buffer.concat([request(7), Buffer.from([0, 0, 4, 1])]));
    await closed;
    expect(frames.map((f) => f.readInt32BE(0))).toEqual([7]);
  });

  it('closes after a response that says so (failed acks=0 Produce): earlier answers out, later ones not', async () => {
    const released: number[] = [];
    const serve: ServeRequest = async (r) => {
      const id = r.header.correlationId;
      // The one that closes finishes last: the answers before it wait for it, the ones after are dropped.
      await new Promise((resolve) => setTimeout(resolve, id === 2 ? 30 : 1));
      if (id === 2) return { chunks: null, closeConnection: true, release: () => released.push(id) };
      return { chunks: answer(id), release: () => released.push(id) };
    };
    const { client, frames, closed } = await open(serve);
    client.write(Buffer.concat([1, 2, 3, 4].map(request)));
    await closed;
    expect(frames.map((f) => f.readInt32BE(0))).toEqual([1]);
    await until(() => released.length === 4);
  });

  it('aborts requests in service when the client goes, and still releases their buffers', async () => {
    let aborted = false;
    let released = false;
    const serve: ServeRequest = (_r, signal) =>
      new Promise((resolve) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          resolve({ chunks: answer(1), release: () => (released = true) });
        });
      });
    const { client } = await open(serve);
    client.write(request(1));
    await new Promise((r) => setTimeout(r, 20));
    client.destroy();
    await until(() => aborted && released);
  });

  it('answers a client that half-closes after its last request', async () => {
    const serve: ServeRequest = async (r) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { chunks: answer(r.header.correlationId) };
    };
    const { client, frames, closed } = await open(serve, { maxInFlight: 2 });
    client.end(Buffer.concat([request(9), request(10), request(11), request(12)]));
    await closed;
    // Including those still waiting in the buffer for a place in service when the client shut down.
    expect(frames.map((f) => f.readInt32BE(0))).toEqual([9, 10, 11, 12]);
  });
});
