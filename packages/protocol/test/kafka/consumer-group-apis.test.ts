/**
 * KIP-848's ConsumerGroupHeartbeat (68) and ConsumerGroupDescribe (69): round trips at every version,
 * bytes checked by hand against Kafka's message definitions (there is no real client here to capture:
 * the Debian librdkafka 2.0.2 predates KIP-848 and KafkaJS does not speak it), and fuzzing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kafka } from '@samsa/protocol/kafka';

const {
  KAFKA_APIS,
  ApiKey,
  KafkaReader,
  KafkaProtocolError,
  decodeMessage,
  encodeMessage,
  decodeRequest,
  encodeRequest,
} = kafka;

const TOPIC_ID = Buffer.from('00112233445566778899aabbccddeeff', 'hex').toString('base64url');

const heartbeatRequest: kafka.ConsumerGroupHeartbeatRequestData = {
  groupId: 'g',
  memberId: 'm',
  memberEpoch: 3,
  instanceId: 'i',
  rackId: 'r',
  rebalanceTimeoutMs: 30_000,
  subscribedTopicNames: ['t', 'u'],
  subscribedTopicRegex: 't.*',
  serverAssignor: 'uniform',
  topicPartitions: [{ topicId: TOPIC_ID, partitions: [0, 2] }],
};
const heartbeatResponse: kafka.ConsumerGroupHeartbeatResponseData = {
  throttleTimeMs: 1,
  errorCode: 0,
  errorMessage: null,
  memberId: 'm',
  memberEpoch: 4,
  heartbeatIntervalMs: 5000,
  assignment: { topicPartitions: [{ topicId: TOPIC_ID, partitions: [1] }] },
};
const assignment = { topicPartitions: [{ topicId: TOPIC_ID, topicName: 't', partitions: [0, 1] }] };
const describeResponse: kafka.ConsumerGroupDescribeResponseData = {
  throttleTimeMs: 0,
  groups: [
    {
      errorCode: 0,
      errorMessage: null,
      groupId: 'g',
      groupState: 'stable',
      groupEpoch: 7,
      assignmentEpoch: 7,
      assignorName: 'uniform',
      members: [
        {
          memberId: 'm',
          instanceId: null,
          rackId: 'r',
          memberEpoch: 7,
          clientId: 'c',
          clientHost: '/127.0.0.1',
          subscribedTopicNames: ['t'],
          subscribedTopicRegex: null,
          assignment,
          targetAssignment: assignment,
          memberType: 0,
        },
      ],
      authorizedOperations: -2147483648,
    },
  ],
};

const roundTrip = (schema: kafka.MessageSchema, version: number, body: object) => {
  const bytes = encodeMessage(schema, version, body).toBuffer();
  const decoded = decodeMessage<Record<string, unknown>>(schema, version, new KafkaReader(bytes));
  expect(encodeMessage(schema, version, decoded).toBuffer()).toEqual(bytes);
  return decoded;
};

describe('ConsumerGroupHeartbeat and ConsumerGroupDescribe codecs', () => {
  const heartbeat = KAFKA_APIS.get(ApiKey.ConsumerGroupHeartbeat)!;
  const describeApi = KAFKA_APIS.get(ApiKey.ConsumerGroupDescribe)!;

  it('round-trip at every version; v0 has no regex, ConsumerGroupDescribe v0 no member type', () => {
    expect([heartbeat.minVersion, heartbeat.maxVersion, describeApi.minVersion, describeApi.maxVersion]).toEqual([
      0, 1, 0, 1,
    ]);
    expect(roundTrip(heartbeat.request, 1, heartbeatRequest)).toEqual(heartbeatRequest);
    expect(roundTrip(heartbeat.request, 0, heartbeatRequest)).toEqual({
      ...heartbeatRequest,
      subscribedTopicRegex: null,
    });
    for (const version of [0, 1]) {
      expect(roundTrip(heartbeat.response, version, heartbeatResponse)).toEqual(heartbeatResponse);
      // A leave, or a heartbeat that changes nothing: no assignment (a null struct).
      const none = { ...heartbeatResponse, assignment: null, memberId: null, errorMessage: 'e' };
      expect(roundTrip(heartbeat.response, version, none)).toEqual(none);
      // Owned partitions left out: null, not an empty list.
      const unchanged = { ...heartbeatRequest, topicPartitions: null, subscribedTopicNames: null };
      expect(roundTrip(heartbeat.request, version, unchanged)).toMatchObject({ topicPartitions: null });
      const request = { groupIds: ['g', 'h'], includeAuthorizedOperations: true };
      expect(roundTrip(describeApi.request, version, request)).toEqual(request);
    }
    expect(roundTrip(describeApi.response, 1, describeResponse)).toEqual(describeResponse);
    const v0 = roundTrip(
      describeApi.response,
      0,
      describeResponse,
    ) as unknown as kafka.ConsumerGroupDescribeResponseData;
    expect(v0.groups[0]!.members[0]!.memberType).toBe(-1);
  });

  it('a v0 join has the bytes of the message definition', () => {
    const join = {
      groupId: 'g',
      memberId: '',
      memberEpoch: 0,
      instanceId: null,
      rackId: null,
      rebalanceTimeoutMs: 300_000,
      subscribedTopicNames: ['t'],
      subscribedTopicRegex: null,
      serverAssignor: null,
      topicPartitions: [],
    };
    // Compact string g, empty compact string, int32 0, two null compact strings, int32 300000,
    // compact array [t], null assignor, empty compact array, empty tag section.
    const v0 = '0267' + '01' + '00000000' + '00' + '00' + '000493e0' + '020274' + '00' + '01' + '00';
    expect(encodeMessage(heartbeat.request, 0, join).toBuffer().toString('hex')).toBe(v0);
    // v1: a null regex after the names.
    const v1 = '0267' + '01' + '00000000' + '00' + '00' + '000493e0' + '020274' + '00' + '00' + '01' + '00';
    expect(encodeMessage(heartbeat.request, 1, join).toBuffer().toString('hex')).toBe(v1);
  });

  it('a response with an assignment has the bytes of the message definition', () => {
    const body = {
      ...heartbeatResponse,
      throttleTimeMs: 0,
      assignment: { topicPartitions: [{ topicId: TOPIC_ID, partitions: [1] }] },
    };
    const hex =
      '00000000' + // throttle
      '0000' + // error code
      '00' + // null error message
      '026d' + // member id m
      '00000004' + // member epoch
      '00001388' + // heartbeat interval 5000
      '01' + // the assignment is present
      '02' + // one topic
      '00112233445566778899aabbccddeeff' +
      '02' + // one partition
      '00000001' +
      '00' + // topic's tags
      '00' + // assignment's tags
      '00'; // response's tags
    expect(encodeMessage(heartbeat.response, 0, body).toBuffer().toString('hex')).toBe(hex);
    const nullAssignment = encodeMessage(heartbeat.response, 0, { ...body, assignment: null }).toBuffer();
    expect(nullAssignment.toString('hex')).toBe(hex.slice(0, 2 * 17) + 'ff' + '00');
  });

  it('fuzzed requests decode or fail with a typed error', () => {
    const frames = [
      encodeRequest(heartbeat, { apiVersion: 0, correlationId: 1, clientId: 'c' }, heartbeatRequest),
      encodeRequest(heartbeat, { apiVersion: 1, correlationId: 2, clientId: 'c' }, heartbeatRequest),
      encodeRequest(
        describeApi,
        { apiVersion: 1, correlationId: 3, clientId: 'c' },
        {
          groupIds: ['g'],
          includeAuthorizedOperations: false,
        },
      ),
    ].map((f) => f.subarray(4));
    const decodeOrTypedError = (frame: Buffer) => {
      try {
        decodeRequest(frame, (k) => KAFKA_APIS.get(k));
      } catch (err) {
        expect(err).toBeInstanceOf(KafkaProtocolError);
      }
    };
    fc.assert(
      fc.property(
        fc.constantFrom(...frames),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(),
        (frame, flips, cut) => {
          const mutated = Buffer.from(frame);
          for (const [at, value] of flips) mutated[at % mutated.length] = value;
          decodeOrTypedError(mutated);
          decodeOrTypedError(mutated.subarray(0, cut % (mutated.length + 1)));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
