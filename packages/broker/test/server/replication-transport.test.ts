import * as grpc from '@grpc/grpc-js';
import { loadReplicationProto, type v1 } from '@samsa/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { MetadataImage } from '../../src/cluster/metadata.js';
import type { ReplicaFetchRequest } from '../../src/replication/index.js';
import { PeerClients } from '../../src/server/peer-clients.js';
import { GrpcReplicationTransport } from '../../src/server/replication-transport.js';

/** A leader that answers a fetch at once unless its fetch offset is `SILENT_OFFSET`, counting its streams. */
const SILENT_OFFSET = 999;
let server: grpc.Server;
let port: number;
let streamsOpened = 0;

beforeAll(async () => {
  server = new grpc.Server();
  server.addService(loadReplicationProto().Replication.service, {
    ReplicaFetch: (call: grpc.ServerDuplexStream<v1.ReplicaFetchRequest__Output, v1.ReplicaFetchResponse>) => {
      streamsOpened++;
      call.on('data', (request: v1.ReplicaFetchRequest__Output) => {
        if (request.topics[0]?.partitions[0]?.fetchOffset !== SILENT_OFFSET) call.write({ topics: [] });
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
    AlterPartition: (_call: unknown, callback: grpc.sendUnaryData<v1.AlterPartitionResponse>) =>
      callback(null, { errorCode: 0, errorMessage: '' }),
  });
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
});

afterAll(() => server?.forceShutdown());

function fetchAt(fetchOffset: number): ReplicaFetchRequest {
  const partition = { partition: 0, fetchOffset, currentLeaderEpoch: 0, lastFetchedEpoch: 0, partitionMaxBytes: 1 };
  return { replicaId: 2, maxWaitMs: 0, minBytes: 1, maxBytes: 1, topics: [{ name: 't', partitions: [partition] }] };
}

describe('the follower side of ReplicaFetch over gRPC', () => {
  it('closes a stream whose request goes unanswered, at that request’s own deadline, and opens another', async () => {
    const peers = new PeerClients('PLAINTEXT');
    const image = { brokers: new Map([[1, { id: 1, host: '127.0.0.1', port }]]) } as unknown as MetadataImage;
    const session = new GrpcReplicationTransport(peers, () => image).openFetchSession(1);
    try {
      const before = streamsOpened;
      const timeoutMs = 300;
      // Many answered fetches on one stream first: the stream's timer, armed for the first one's
      // deadline, must not cut the unanswered one short.
      const firstSentMs = Date.now();
      while (Date.now() - firstSentMs < timeoutMs / 2) await session.fetch(fetchAt(0), timeoutMs);
      const sentMs = Date.now();
      const err = await session.fetch(fetchAt(SILENT_OFFSET), timeoutMs).catch((e: unknown) => e);
      expect(Date.now() - sentMs).toBeGreaterThanOrEqual(timeoutMs - 1);
      expect((err as Error).message).toBe(`no answer to a replica fetch within ${timeoutMs} ms`);
      expect(streamsOpened - before).toBe(1);
      // The next fetch goes on a new stream, and is answered.
      await expect(session.fetch(fetchAt(0), timeoutMs)).resolves.toEqual({ topics: [] });
      expect(streamsOpened - before).toBe(2);
    } finally {
      session.close(new Error('test over'));
      peers.close();
    }
  });

  it('times an unanswered fetch on the monotonic clock: a wall clock set back does not hold it', async () => {
    const peers = new PeerClients('PLAINTEXT');
    const image = { brokers: new Map([[1, { id: 1, host: '127.0.0.1', port }]]) } as unknown as MetadataImage;
    const session = new GrpcReplicationTransport(peers, () => image).openFetchSession(1);
    try {
      await session.fetch(fetchAt(0), 5_000); // the stream is open
      const answer = session.fetch(fetchAt(SILENT_OFFSET), 200).catch((e: unknown) => e);
      const realNow = Date.now.bind(Date);
      const setBack = vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
      try {
        expect(((await answer) as Error).message).toBe('no answer to a replica fetch within 200 ms');
      } finally {
        setBack.mockRestore();
      }
    } finally {
      session.close(new Error('test over'));
      peers.close();
    }
  }, 10_000);

  it('finds the leader’s client once per registration, not on every fetch, and again when it moves', async () => {
    const peers = new PeerClients('PLAINTEXT');
    const forBroker = vi.spyOn(peers, 'forBroker');
    let image = { brokers: new Map([[1, { id: 1, host: '127.0.0.1', port }]]) } as unknown as MetadataImage;
    const session = new GrpcReplicationTransport(peers, () => image).openFetchSession(1);
    try {
      for (let i = 0; i < 5; i++) await session.fetch(fetchAt(0), 5_000);
      expect(forBroker).toHaveBeenCalledTimes(1);
      const before = streamsOpened;
      // Registered again (here at another address for the same server): a new client and a new stream.
      image = { brokers: new Map([[1, { id: 1, host: 'localhost', port }]]) } as unknown as MetadataImage;
      await expect(session.fetch(fetchAt(0), 5_000)).resolves.toEqual({ topics: [] });
      expect(forBroker).toHaveBeenCalledTimes(2);
      expect(streamsOpened - before).toBe(1);
    } finally {
      session.close(new Error('test over'));
      peers.close();
    }
  });
});
