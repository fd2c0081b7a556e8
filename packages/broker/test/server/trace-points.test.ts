import { mkdtempSync, rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { loadReplicationProto, type v1 } from '@samsa/protocol';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MetadataImage } from '../../src/cluster/metadata.js';
import type { BrokerContext } from '../../src/server/context.js';
import { handleProduce } from '../../src/server/handlers/produce.js';
import { handleReplicaFetch } from '../../src/server/handlers/replica-fetch.js';
import { PeerClients } from '../../src/server/peer-clients.js';
import { GrpcReplicationTransport } from '../../src/server/replication-transport.js';
import { makeBatch } from '../storage/helpers.js';
import { leaderWithTenRecords } from './leader-fixture.js';

// The request timeline's hook (@samsa/protocol's trace), installed before any module reads it, as
// scripts/bench-probe.cjs does in a preloaded process.
const hook = vi.hoisted(() => {
  const events: [string, number, number?, number?][] = [];
  (globalThis as Record<symbol, unknown>)[Symbol.for('samsa.trace')] = (
    event: string,
    partition: number,
    a?: number,
    b?: number,
  ) => events.push([event, partition, a, b]);
  return { events };
});

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function followerFetch(ctx: BrokerContext, fetchOffset: number) {
  const partition = {
    partition: 0,
    fetchOffset,
    currentLeaderEpoch: 0,
    lastFetchedEpoch: 0,
    partitionMaxBytes: 1 << 20,
    logStartOffset: 0,
  };
  const request = {
    replicaId: 2,
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes: 1 << 20,
    topics: [{ name: 't', partitions: [partition] }],
  };
  return handleReplicaFetch(ctx, request, new AbortController().signal);
}

describe("the leader's trace points (the request timeline)", () => {
  it('mark an acks=all produce, the follower fetch that copies it, the HW move and the answer', async () => {
    dir = mkdtempSync(join(tmpdir(), 'samsa-trace-points-'));
    const { ctx, leaders, waiters, hosted } = await leaderWithTenRecords(dir, [1, 2]);
    try {
      hook.events.length = 0;
      const request = {
        acks: -1,
        timeoutMs: 5000,
        transactionalId: '',
        addPartitionsToTxn: false,
        topics: [{ name: 't', partitions: [{ partition: 0, records: makeBatch({ count: 3 }) }] }],
      };
      const produced = handleProduce(ctx, request, new AbortController().signal);
      await vi.waitFor(() => expect(hook.events.map((e) => e[0])).toContain('l.app'));
      await followerFetch(ctx, 10); // copies offsets 10-12
      await followerFetch(ctx, 13); // acknowledges them: the HW moves and the produce is answered
      await produced;
      const id = hook.events.find((e) => e[0] === 'l.pin')?.[2];
      expect(hook.events).toEqual([
        ['l.pin', 0, id, undefined],
        ['l.app', 0, 10, 12], // written: offsets 10-12
        ['l.fin', 0, 2, 10],
        ['l.hw', 0, 10, undefined], // the fixture's records, now on follower 2 too
        ['l.fout', 0, 2, 13], // the answer carries up to 13
        ['l.fin', 0, 2, 13],
        ['l.hw', 0, 13, undefined],
        // The fetch that moved the HW is answered at once (nothing new for the follower: its own
        // offset, read without an async step), then the acks=all produce the HW now covers.
        ['l.fout', 0, 2, 13],
        ['l.pout', 0, id, 10],
      ]);
    } finally {
      leaders.stop();
      waiters.expireAll();
      await hosted.log.close(); // its files were left to the garbage collector (a DEP0137 warning)
    }
  });
});

describe("the follower's trace points (the request timeline)", () => {
  it('mark a fetch sent (its offset) and its answer received (the end of what it carries)', async () => {
    // A leader that answers a fetch at offset 20 with the batch 20-22, and one past it with nothing.
    const batch = makeBatch({ count: 3 });
    batch.writeBigInt64BE(20n, 0);
    const server = new grpc.Server();
    server.addService(loadReplicationProto().Replication.service, {
      ReplicaFetch: (call: grpc.ServerDuplexStream<v1.ReplicaFetchRequest__Output, v1.ReplicaFetchResponse>) => {
        call.on('data', (request: v1.ReplicaFetchRequest__Output) => {
          const records = request.topics[0]?.partitions[0]?.fetchOffset === 20 ? batch : Buffer.alloc(0);
          const partitions = [{ partition: 4, errorCode: 0, highWatermark: 0, logStartOffset: 0, records }];
          call.write({ topics: [{ name: 't', partitions }] });
        });
        call.on('end', () => call.end());
        call.on('error', () => {});
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      ),
    );
    const peers = new PeerClients('PLAINTEXT');
    const image = { brokers: new Map([[1, { id: 1, host: '127.0.0.1', port }]]) } as unknown as MetadataImage;
    const session = new GrpcReplicationTransport(peers, () => image).openFetchSession(1);
    const fetchAt = (fetchOffset: number) => {
      const partition = {
        partition: 4,
        fetchOffset,
        currentLeaderEpoch: 0,
        lastFetchedEpoch: 0,
        partitionMaxBytes: 1 << 20,
      };
      return {
        replicaId: 2,
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [{ name: 't', partitions: [partition] }],
      };
    };
    try {
      hook.events.length = 0;
      await session.fetch(fetchAt(20), 5000);
      await session.fetch(fetchAt(23), 5000);
      expect(hook.events).toEqual([
        ['f.send', 4, 20, undefined],
        ['f.recv', 4, 23, undefined],
        ['f.send', 4, 23, undefined],
        ['f.recv', 4, -1, undefined], // an answer with no records
      ]);
    } finally {
      session.close(new Error('test over'));
      peers.close();
      server.forceShutdown();
    }
  });
});
