import { connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { loadBrokerProto } from '@samsa/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOW_CONTROL_WINDOW_BYTES } from '../../src/server/flow-control.js';
import { startGrpcServer, type BrokerServer } from '../../src/server/grpc-server.js';

let server: BrokerServer;

beforeAll(async () => {
  server = await startGrpcServer({
    listenerName: 'PLAINTEXT',
    host: '127.0.0.1',
    port: 0,
    maxRequestBytes: 1 << 20,
    logger: pino({ level: 'silent' }),
    context: () => undefined,
  });
});

afterAll(async () => {
  await server?.close(1000);
});

describe('broker gRPC server', () => {
  it('advertises a wide HTTP/2 receive window, so a large request does not wait for window updates', async () => {
    const session = connect(`http://127.0.0.1:${server.port}`);
    try {
      const settings = await new Promise<{ initialWindowSize?: number }>((resolve, reject) => {
        session.once('remoteSettings', resolve);
        session.once('error', reject);
      });
      expect(settings.initialWindowSize).toBe(FLOW_CONTROL_WINDOW_BYTES);
    } finally {
      session.close();
    }
  });

  it('serves gRPC on the connections it accepts itself', async () => {
    const Broker = loadBrokerProto().Broker;
    const client = new Broker(
      `127.0.0.1:${server.port}`,
      grpc.credentials.createInsecure(),
    ) as unknown as grpc.Client & {
      Metadata(req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void): void;
    };
    try {
      // No broker context yet: the answer proves the call went through grpc-js's handlers.
      const err = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.Metadata({ topics: [] }, { deadline: Date.now() + 5000 }, resolve),
      );
      expect(err?.code).toBe(grpc.status.UNAVAILABLE);
      expect(err?.details).toBe('broker is starting');
    } finally {
      client.close();
    }
  });

  it('says which address it could not listen on', async () => {
    await expect(
      startGrpcServer({
        listenerName: 'PLAINTEXT',
        host: '127.0.0.1',
        port: server.port,
        maxRequestBytes: 1 << 20,
        logger: pino({ level: 'silent' }),
        context: () => undefined,
      }),
    ).rejects.toThrow(`cannot listen on 127.0.0.1:${server.port}: listen EADDRINUSE`);
  });
});
