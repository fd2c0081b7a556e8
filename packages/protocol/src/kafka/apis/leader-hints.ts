import { array, type Field, field, struct } from '../schema.js';

/**
 * KIP-951's leader discovery fields, shared by Produce (v10+) and Fetch (CurrentLeader v12+,
 * NodeEndpoints v16+): a partition refused with NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH names
 * the leader the broker knows of, and the response lists that leader's address, so the client retries
 * there without a Metadata request first. Both are tagged: absent unless set.
 */

/** A partition's `CurrentLeader` (tagged), in the versions given. */
export function currentLeaderField(versionSpec: string, tag: number): Field {
  return field(
    'currentLeader',
    struct(
      field('leaderId', 'int32', versionSpec, { default: -1 }),
      field('leaderEpoch', 'int32', versionSpec, { default: -1 }),
    ),
    versionSpec,
    { tag },
  );
}

/** The response's top-level `NodeEndpoints` (tagged): the address of each leader named above. */
export function nodeEndpointsField(versionSpec: string, tag: number): Field {
  return field(
    'nodeEndpoints',
    array(
      struct(
        field('nodeId', 'int32', versionSpec),
        field('host', 'string', versionSpec),
        field('port', 'int32', versionSpec),
        field('rack', 'string', versionSpec, { nullable: versionSpec, default: null }),
      ),
    ),
    versionSpec,
    { tag },
  );
}

export interface LeaderIdAndEpoch {
  leaderId: number;
  leaderEpoch: number;
}

export interface NodeEndpoint {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}
