/**
 * The Kafka listener's KIP-848 requests checked as Kafka 4 checks them before its coordinator sees them:
 * ConsumerGroupHeartbeat's member id, group id and instance id (INVALID_REQUEST, its request validation),
 * ConsumerGroupDescribe's group id "" (INVALID_GROUP_ID). The coordinator itself takes "" for the offset
 * APIs, DescribeGroups and DeleteGroups (driver.test.ts).
 */
import { ErrorCodes } from '@samsa/protocol';
import type { kafka } from '@samsa/protocol/kafka';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { consumerGroupDescribe, consumerGroupHeartbeat } from '../../src/kafka/consumer-groups.js';
import type { BrokerContext } from '../../src/server/context.js';

/** A coordinator that would describe group "" as an empty group (it has offsets) and fail any heartbeat. */
const ctx = {
  logger: pino({ level: 'silent' }),
  member: { metadata: { image: { topics: new Map() } } },
  groups: {
    describeClassic: () => undefined,
    describeGroup: async () => ({ groupId: '', state: 'Empty', epoch: 0, assignor: 'uniform', members: [] }),
    heartbeat: async () => {
      throw new Error('the coordinator was asked');
    },
  },
} as unknown as BrokerContext;

const INVALID_REQUEST = ErrorCodes.INVALID_REQUEST.code;
const UNKNOWN_SERVER_ERROR = ErrorCodes.UNKNOWN_SERVER_ERROR.code;

async function heartbeatCode(version: number, fields: Partial<kafka.ConsumerGroupHeartbeatRequestData>) {
  const request: kafka.ConsumerGroupHeartbeatRequestData = {
    groupId: 'g',
    memberId: 'm',
    memberEpoch: 0,
    instanceId: null,
    rackId: null,
    rebalanceTimeoutMs: 30_000,
    subscribedTopicNames: ['t'],
    subscribedTopicRegex: null,
    serverAssignor: null,
    topicPartitions: [],
    ...fields,
  } as kafka.ConsumerGroupHeartbeatRequestData;
  const reply = await consumerGroupHeartbeat(ctx, version, request, { clientId: 'c', clientHost: 'h' });
  return (reply.body as kafka.ConsumerGroupHeartbeatResponseData).errorCode;
}

describe('ConsumerGroupHeartbeat and ConsumerGroupDescribe requests on the Kafka listener', () => {
  it('ConsumerGroupHeartbeat: group id "" is INVALID_REQUEST, at both versions', async () => {
    for (const version of [0, 1]) expect(await heartbeatCode(version, { groupId: '' })).toBe(INVALID_REQUEST);
  });

  it('ConsumerGroupHeartbeat: who is speaking, checked as Kafka 4 before the coordinator', async () => {
    // v0: a join may leave the member id to the coordinator, a heartbeat or a leave (-1) may not.
    expect(await heartbeatCode(0, { memberId: '', memberEpoch: 3 })).toBe(INVALID_REQUEST);
    expect(await heartbeatCode(0, { memberId: '', memberEpoch: -1 })).toBe(INVALID_REQUEST);
    expect(await heartbeatCode(1, { memberId: '', memberEpoch: 0 })).toBe(INVALID_REQUEST);
    // A static leave names the instance it leaves; an instance id is never "".
    expect(await heartbeatCode(1, { memberEpoch: -2 })).toBe(INVALID_REQUEST);
    expect(await heartbeatCode(1, { instanceId: '' })).toBe(INVALID_REQUEST);
    // The rest reaches the coordinator (here one that fails every heartbeat).
    expect(await heartbeatCode(0, { memberId: '', memberEpoch: 0 })).toBe(UNKNOWN_SERVER_ERROR);
    expect(await heartbeatCode(1, { memberEpoch: -2, instanceId: 'i' })).toBe(UNKNOWN_SERVER_ERROR);
    expect(await heartbeatCode(1, { memberEpoch: -1 })).toBe(UNKNOWN_SERVER_ERROR);
  });

  it('ConsumerGroupDescribe: INVALID_GROUP_ID for "", the group for any other id', async () => {
    const reply = await consumerGroupDescribe(ctx, 1, { groupIds: ['', 'g'], includeAuthorizedOperations: false });
    const groups = (reply.body as kafka.ConsumerGroupDescribeResponseData).groups;
    expect(groups.map((g) => [g.groupId, g.errorCode])).toEqual([
      ['', ErrorCodes.INVALID_GROUP_ID.code],
      ['g', 0],
    ]);
  });
});
