/**
 * Authorized operations on the Kafka listener, which has no authorizer: a client that asks for them
 * (DescribeGroups v3+, ConsumerGroupDescribe) is told every operation the resource type supports, as a
 * Kafka broker without an authorizer answers (AuthHelper.authorizedOperations); one that does not ask
 * gets Integer.MIN_VALUE, "not asked". Metadata and DescribeCluster: kafka-apis.test.ts.
 */
import type { kafka } from '@samsa/protocol/kafka';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { consumerGroupDescribe } from '../../src/kafka/consumer-groups.js';
import { describeGroups } from '../../src/kafka/groups.js';
import type { BrokerContext } from '../../src/server/context.js';

/** READ 3, DESCRIBE 8, DELETE 6: AclEntry.supportedOperations(GROUP), as Utils.to32BitField packs them. */
const GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8);
const NOT_ASKED = -2147483648;

/** A coordinator with no group at all: both APIs answer every group id, so the field is all there is to see. */
const ctx = {
  logger: pino({ level: 'silent' }),
  member: { metadata: { image: { topics: new Map() } } },
  groups: { describeClassic: () => undefined, describeGroup: async () => undefined },
} as unknown as BrokerContext;

describe('authorized operations on the Kafka listener', () => {
  it('DescribeGroups v3+: every group operation when asked, MIN_VALUE when not', async () => {
    for (const includeAuthorizedOperations of [true, false]) {
      const reply = await describeGroups(ctx, 5, { groups: ['g'], includeAuthorizedOperations });
      const [group] = (reply.body as kafka.DescribeGroupsResponseData).groups;
      expect(group!.authorizedOperations).toBe(includeAuthorizedOperations ? GROUP_OPERATIONS : NOT_ASKED);
    }
  });

  it('ConsumerGroupDescribe: the same', async () => {
    for (const includeAuthorizedOperations of [true, false]) {
      const reply = await consumerGroupDescribe(ctx, 0, { groupIds: ['g'], includeAuthorizedOperations });
      const [group] = (reply.body as kafka.ConsumerGroupDescribeResponseData).groups;
      expect(group!.authorizedOperations).toBe(includeAuthorizedOperations ? GROUP_OPERATIONS : NOT_ASKED);
    }
  });
});
