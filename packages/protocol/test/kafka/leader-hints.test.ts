/**
 * KIP-951's leader hints in Produce v10 and Fetch v16, byte for byte as Kafka's message definitions
 * lay them out (ProduceResponse.json, FetchResponse.json): tagged, so absent unless set, and absent
 * from the versions before.
 */
import { describe, expect, it } from 'vitest';
import { kafka } from '@samsa/protocol/kafka';

const { KAFKA_APIS, ApiKey, KafkaReader, decodeMessage, encodeMessage } = kafka;
const produce = KAFKA_APIS.get(ApiKey.Produce)!;
const fetch = KAFKA_APIS.get(ApiKey.Fetch)!;

const refused: kafka.ProduceResponseData = {
  responses: [
    {
      name: 't',
      partitionResponses: [{ index: 0, errorCode: 6, baseOffset: -1, currentLeader: { leaderId: 2, leaderEpoch: 5 } }],
    },
  ],
  throttleTimeMs: 0,
  nodeEndpoints: [{ nodeId: 2, host: 'h', port: 9, rack: null }],
};

const MINUS_ONE_64 = 'ffffffffffffffff';

describe('KIP-951 leader hints', () => {
  it('Produce v10: CurrentLeader is tag 0 of the partition, NodeEndpoints tag 0 of the response', () => {
    const hex = encodeMessage(produce.response, 10, refused).toBuffer().toString('hex');
    expect(hex).toBe(
      '02' + // one topic (compact array: n + 1)
        '0274' + // 't'
        '02' + // one partition
        '00000000' + // index 0
        '0006' + // NOT_LEADER_OR_FOLLOWER
        MINUS_ONE_64 + // base offset
        MINUS_ONE_64 + // log append time
        MINUS_ONE_64 + // log start offset
        '01' + // no record errors
        '00' + // error message null
        '01' + // one tagged field:
        '00' + // tag 0 (CurrentLeader)
        '09' + // 9 bytes:
        '00000002' + // leader id
        '00000005' + // leader epoch
        '00' + // the struct's own (empty) tag section
        '00' + // the topic's tags
        '00000000' + // throttle time
        '01' + // one tagged field:
        '00' + // tag 0 (NodeEndpoints)
        '0d' + // 13 bytes:
        '02' + // one node
        '00000002' + // node id
        '0268' + // host 'h'
        '00000009' + // port
        '00' + // rack null
        '00', // the node's tags
    );
    const decoded = decodeMessage<kafka.ProduceResponseData>(
      produce.response,
      10,
      new KafkaReader(Buffer.from(hex, 'hex')),
    );
    expect(decoded.nodeEndpoints).toEqual(refused.nodeEndpoints);
    expect(decoded.responses[0]!.partitionResponses[0]!.currentLeader).toEqual({ leaderId: 2, leaderEpoch: 5 });
  });

  it("Produce v9 leaves the hints out; v10 without a refusal writes no tag; the v10 request is v9's", () => {
    const unhinted: kafka.ProduceResponseData = {
      ...refused,
      nodeEndpoints: [],
      responses: [{ name: 't', partitionResponses: [{ index: 0, errorCode: 6, baseOffset: -1 }] }],
    };
    const v9 = (body: object) => encodeMessage(produce.response, 9, body).toBuffer();
    expect(v9(refused)).toEqual(v9(unhinted));
    expect(encodeMessage(produce.response, 10, unhinted).toBuffer()).toEqual(v9(unhinted));
    const request = { transactionalId: null, acks: -1, timeoutMs: 1000, topicData: [] };
    expect(encodeMessage(produce.request, 10, request).toBuffer()).toEqual(
      encodeMessage(produce.request, 9, request).toBuffer(),
    );
  });

  it('Fetch v16: NodeEndpoints is tag 0 of the response, after the topics by id; v15 has no NodeEndpoints', () => {
    const body: kafka.FetchResponseData = {
      throttleTimeMs: 0,
      errorCode: 0,
      sessionId: 0,
      responses: [
        {
          topic: '',
          topicId: 'AQIDBAUGBwgJCgsMDQ4PEA',
          partitions: [
            {
              partitionIndex: 1,
              errorCode: 74, // FENCED_LEADER_EPOCH
              highWatermark: -1,
              currentLeader: { leaderId: 3, leaderEpoch: 7 },
              abortedTransactions: null,
              records: null,
            },
          ],
        },
      ],
      nodeEndpoints: [{ nodeId: 3, host: 'h', port: 9, rack: 'r' }],
    };
    const v16 = encodeMessage(fetch.response, 16, body).toBuffer();
    const tail = '01' + '00' + '0e' + '02' + '00000003' + '0268' + '00000009' + '0272' + '00';
    expect(v16.toString('hex').endsWith(tail)).toBe(true);
    const decoded = decodeMessage<kafka.FetchResponseData>(fetch.response, 16, new KafkaReader(v16));
    expect(decoded.nodeEndpoints).toEqual(body.nodeEndpoints);
    expect(decoded.responses[0]).toMatchObject({ topicId: 'AQIDBAUGBwgJCgsMDQ4PEA' });
    expect(decoded.responses[0]!.partitions[0]!.currentLeader).toEqual({ leaderId: 3, leaderEpoch: 7 });
    // v15: the same but for NodeEndpoints (an empty tag section instead).
    const v15 = encodeMessage(fetch.response, 15, body).toBuffer().toString('hex');
    expect(v15).toBe(`${v16.toString('hex').slice(0, -tail.length)}00`);
  });

  it("Fetch v15 request: a follower's replica id is tag 1 (ReplicaState), no longer a field", () => {
    const request = {
      replicaState: { replicaId: 4, replicaEpoch: 11 },
      maxWaitMs: 1,
      minBytes: 1,
      topics: [],
      forgottenTopicsData: [],
    };
    const bytes = encodeMessage(fetch.request, 15, request).toBuffer();
    const decoded = decodeMessage<kafka.FetchRequestData>(fetch.request, 15, new KafkaReader(bytes));
    expect(decoded.replicaState).toEqual({ replicaId: 4, replicaEpoch: 11 });
    expect(decoded.replicaId).toBe(-1);
    // v14 still carries the replica id in the body: 4 more bytes, and no tag.
    const v14 = encodeMessage(fetch.request, 14, { ...request, replicaId: 4 }).toBuffer();
    expect(decodeMessage<kafka.FetchRequestData>(fetch.request, 14, new KafkaReader(v14)).replicaId).toBe(4);
  });
});
