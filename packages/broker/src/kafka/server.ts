import { randomInt } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { kafka } from '@samsa/protocol/kafka';
import type { Logger } from 'pino';
import type { BrokerServer } from '../server/grpc-server.js';
import type { BrokerContext } from '../server/context.js';
import { KafkaConnection } from './connection.js';
import { FetchSessions } from './fetch-sessions.js';
import { serveKafkaRequest, supportedApi, type KafkaListenerState } from './handlers.js';

/** Requests one connection may have in service at once (Kafka clients pipeline up to 5 by default; librdkafka more). */
const MAX_IN_FLIGHT_PER_CONNECTION = 64;
/** Incremental fetch sessions kept per listener (Kafka's max.incremental.fetch.session.cache.slots). */
const MAX_FETCH_SESSIONS = 1000;

/**
 * A listener speaking Kafka's binary protocol (security protocol PLAINTEXT). Every connection is
 * served by the same handlers as the gRPC listeners; until the broker has its context (still
 * starting) connections are closed at once, and clients retry.
 */
export async function startKafkaServer(options: {
  listenerName: string;
  host: string;
  port: number;
  maxRequestBytes: number;
  logger: Logger;
  context: () => BrokerContext | undefined;
}): Promise<BrokerServer> {
  const logger = options.logger.child({ listener: options.listenerName, protocol: 'kafka' });
  const connections = new Map<Socket, KafkaConnection>();
  const state: KafkaListenerState = {
    fetchSessions: new FetchSessions(MAX_FETCH_SESSIONS, () => randomInt(1, 0x7fffffff)),
  };
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    const ctx = options.context();
    if (!ctx) {
      socket.destroy();
      return;
    }
    socket.on('close', () => connections.delete(socket));
    const connectionState: KafkaListenerState = { ...state, clientHost: `/${socket.remoteAddress ?? ''}` };
    const connection = new KafkaConnection(socket, {
      maxRequestBytes: options.maxRequestBytes,
      maxInFlight: MAX_IN_FLIGHT_PER_CONNECTION,
      supported: supportedApi,
      serve: (request, signal) => serveKafkaRequest(ctx, connectionState, request, signal),
      oneAtATime: (request) => request.header.apiKey === kafka.ApiKey.Fetch,
      logger,
    });
    connections.set(socket, connection);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  logger.info({ host: options.host, port }, 'kafka listener started');
  return {
    port,
    close: async (graceMs: number) => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Connections get the grace period to finish what they are serving, then they are cut.
      for (const connection of connections.values()) connection.shutdown();
      const timer = setTimeout(() => {
        for (const socket of connections.keys()) socket.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
