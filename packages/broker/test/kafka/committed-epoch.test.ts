/**
 * KIP-320's committed leader epoch on the Kafka listener: OffsetCommit v6+ and TxnOffsetCommit v2+ carry
 * it to the group coordinator, older versions commit -1 (unknown); OffsetFetch v5+ answers it. Requests
 * are encoded and decoded with the listener's codecs, at every version, and handed to its handlers with
 * a stub coordinator.
 */
import { kafka } from '@samsa/protocol/kafka';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { offsetCommit, offsetFetch } from '../../src/kafka/groups.js';
import { txnOffsetCommit } from '../../src/kafka/transactions.js';
import type { BrokerContext } from '../../src/server/context.js';

const { KafkaReader, decodeMessage, encodeMessage } = kafka;

/** The leader epochs the stub coordinator was given, and the one it answers OffsetFetch with. */
function stubContext(committed: number[]): BrokerContext {
  const take = async (input: {
    topics: readonly { name: string; partitions: readonly { partition: number; leaderEpoch: number }[] }[];
  }) => {
    for (const t of input.topics) for (const p of t.partitions) committed.push(p.leaderEpoch);
    return input.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partition: p.partition, errorCode: 0, errorMessage: '' })),
    }));
  };
  return {
    logger: pino({ level: 'silent' }),
    groups: {
      commitKafkaOffsets: take,
      txnCommitOffsets: take,
      fetchOffsets: async () => [
        {
          name: 't',
          partitions: [{ partition: 0, offset: 7, leaderEpoch: 4, metadata: '', errorCode: 0, errorMessage: '' }],
        },
      ],
    },
  } as unknown as BrokerContext;
}

/** `value` encoded at `version` with `schema`, and decoded again as the listener decodes requests. */
function roundTrip<T>(schema: kafka.MessageSchema, version: number, value: object): T {
  return decodeMessage<T>(schema, version, new KafkaReader(encodeMessage(schema, version, value).toBuffer()));
}

const partition = { partitionIndex: 0, committedOffset: 7, committedLeaderEpoch: 4, committedMetadata: '' };

describe("the Kafka listener's committed leader epoch (KIP-320)", () => {
  it('OffsetCommit v6+ carries it to the coordinator; v0-5 commit -1', async () => {
    for (let v = 0; v <= 9; v++) {
      const committed: number[] = [];
      const request = roundTrip<kafka.OffsetCommitRequestData>(kafka.OffsetCommitRequest, v, {
        groupId: 'g',
        generationIdOrMemberEpoch: -1,
        memberId: '',
        groupInstanceId: null,
        retentionTimeMs: -1,
        topics: [{ name: 't', partitions: [partition] }],
      });
      await offsetCommit(stubContext(committed), v, request);
      expect([v, committed]).toEqual([v, [v >= 6 ? 4 : -1]]);
    }
  });

  it('TxnOffsetCommit v2+ carries it to the coordinator; v0-1 commit -1', async () => {
    for (let v = 0; v <= 4; v++) {
      const committed: number[] = [];
      const request = roundTrip<kafka.TxnOffsetCommitRequestData>(kafka.TxnOffsetCommitRequest, v, {
        transactionalId: 'tx',
        groupId: 'g',
        producerId: 1,
        producerEpoch: 0,
        generationId: -1,
        memberId: '',
        groupInstanceId: null,
        topics: [{ name: 't', partitions: [partition] }],
      });
      await txnOffsetCommit(stubContext(committed), v, request);
      expect([v, committed]).toEqual([v, [v >= 2 ? 4 : -1]]);
    }
  });

  it('OffsetFetch v5+ answers it', async () => {
    for (let v = 5; v <= 9; v++) {
      const topics = [{ name: 't', partitionIndexes: [0] }];
      const request = roundTrip<kafka.OffsetFetchRequestData>(kafka.OffsetFetchRequest, v, {
        groupId: 'g',
        topics,
        groups: [{ groupId: 'g', memberId: null, memberEpoch: -1, topics }],
        requireStable: false,
      });
      const reply = await offsetFetch(stubContext([]), v, request);
      const body = reply.body as kafka.OffsetFetchResponseData;
      const answered = v >= 8 ? body.groups[0]!.topics[0]!.partitions[0]! : body.topics[0]!.partitions[0]!;
      const decoded = roundTrip<kafka.OffsetFetchResponseData>(kafka.OffsetFetchResponse, v, body);
      const wire = v >= 8 ? decoded.groups[0]!.topics[0]!.partitions[0]! : decoded.topics[0]!.partitions[0]!;
      expect([v, answered.committedLeaderEpoch, wire.committedLeaderEpoch]).toEqual([v, 4, 4]);
    }
  });
});
