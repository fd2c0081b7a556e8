/**
 * Authorized operations (KIP-430) as a broker without an authorizer reports them: a client that asks
 * (Metadata v8+, DescribeCluster, DescribeGroups v3+, ConsumerGroupDescribe) is told every operation the
 * resource type supports, since nothing is denied; one that does not ask gets Integer.MIN_VALUE.
 * Kafka's AclOperation codes, packed one bit per code (Utils.to32BitField).
 */

const READ = 3;
const WRITE = 4;
const CREATE = 5;
const DELETE = 6;
const ALTER = 7;
const DESCRIBE = 8;
const CLUSTER_ACTION = 9;
const DESCRIBE_CONFIGS = 10;
const ALTER_CONFIGS = 11;
const IDEMPOTENT_WRITE = 12;

const bits = (...operations: number[]): number => operations.reduce((field, op) => field | (1 << op), 0);

/** What a client that did not ask is told. */
export const OPERATIONS_NOT_ASKED = -2147483648;

/** AclEntry.supportedOperations of each resource type. */
export const ALL_OPERATIONS = Object.freeze({
  topic: bits(READ, WRITE, CREATE, DESCRIBE, DELETE, ALTER, DESCRIBE_CONFIGS, ALTER_CONFIGS),
  group: bits(READ, DESCRIBE, DELETE),
  cluster: bits(CREATE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, ALTER, DESCRIBE),
});

export function authorizedOperations(asked: boolean, resource: keyof typeof ALL_OPERATIONS): number {
  return asked ? ALL_OPERATIONS[resource] : OPERATIONS_NOT_ASKED;
}
