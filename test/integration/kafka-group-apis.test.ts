/**
 * The group APIs of the Kafka listener at every version it advertises, on a real broker process, with
 * Samsa's codecs (the clients in kafka-groups.test.ts cover the versions they use; this covers the rest,
 * flexible versions included): one group per JoinGroup version, taken through join, sync, heartbeat,
 * commit, fetch, describe, list, leave and delete.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '@samsa/protocol';
import { kafka } from '@samsa/protocol/kafka';
import { LocalCluster } from '../helpers/cluster.js';
import { KafkaTestClient } from '../helpers/kafka-client.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const { ApiKey } = kafka;

let cluster: LocalCluster;
let client: KafkaTestClient;
const topic = `group-apis-${process.pid}`;

beforeAll(async () => {
  const kafkaPort = await freePort();
  cluster = await LocalCluster.start({
    brokers: 1,
    brokerSettingsFor: (b) => ({
      listeners: `PLAINTEXT://${b.address},KAFKA://127.0.0.1:${kafkaPort}`,
      'offsets.topic.num.partitions': '1',
      'offsets.topic.replication.factor': '1',
      'group.initial.rebalance.delay.ms': '0',
    }),
  });
  const socket = connect({ host: '127.0.0.1', port: kafkaPort });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  client = new KafkaTestClient(socket);
  await client.send(ApiKey.CreateTopics, 4, {
    topics: [{ name: topic, numPartitions: 2, replicationFactor: 1 }],
    timeoutMs: 10_000,
  });
}, 90_000);

afterAll(async () => {
  await cluster?.close();
});

const metadata = Buffer.from('000000000001000174ffffffff', 'hex');

describe('the group APIs at every advertised version', () => {
  it('FindCoordinator v0-v4 names this broker, once __consumer_offsets has a leader', async () => {
    await waitFor(
      async () => {
        const r = await client.send<kafka.FindCoordinatorResponseData>(ApiKey.FindCoordinator, 1, {
          key: 'g',
          keyType: 0,
        });
        return r.errorCode === 0;
      },
      { timeoutMs: 30_000, description: 'a coordinator' },
    );
    for (let v = 0; v <= 4; v++) {
      const r = await client.send<kafka.FindCoordinatorResponseData>(ApiKey.FindCoordinator, v, {
        key: 'g',
        keyType: 0,
        coordinatorKeys: ['g', 'h'],
      });
      if (v < 4) expect(r, `v${v}`).toMatchObject({ errorCode: 0, nodeId: 1, host: '127.0.0.1' });
      else
        expect(r.coordinators!.map((c) => [c.key, c.errorCode, c.nodeId])).toEqual([
          ['g', 0, 1],
          ['h', 0, 1],
        ]);
    }
  });

  it('group id "" at every version where Kafka takes it: commits and fetches with no membership', async () => {
    // Old clients (kafka-python with group_id='') commit with group id "", generation -1 and no member id;
    // Kafka's GroupCoordinatorService refuses only a null id in these APIs.
    const groupId = '';
    const notYet = new Set([ErrorCodes.NOT_COORDINATOR.code, ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code]);
    await waitFor(
      async () =>
        (await client.send<kafka.FindCoordinatorResponseData>(ApiKey.FindCoordinator, 1, { key: 'g', keyType: 0 }))
          .errorCode === 0,
      { timeoutMs: 30_000, description: 'a coordinator' },
    );
    for (let v = 0; v <= 4; v++) {
      const r = await client.send<kafka.FindCoordinatorResponseData>(ApiKey.FindCoordinator, v, {
        key: groupId,
        keyType: 0,
        coordinatorKeys: [groupId],
      });
      expect(v < 4 ? r.errorCode : r.coordinators![0]!.errorCode, `FindCoordinator v${v}`).toBe(0);
    }
    const asked = [{ name: topic, partitionIndexes: [0] }];
    for (let v = 0; v <= 9; v++) {
      // The first one waits for the coordinator to take up its partition, as clients retry.
      const committed = await waitFor(
        async () => {
          const r = await client.send<kafka.OffsetCommitResponseData>(ApiKey.OffsetCommit, v, {
            groupId,
            generationIdOrMemberEpoch: -1,
            memberId: '',
            topics: [
              { name: topic, partitions: [{ partitionIndex: 0, committedOffset: 10 + v, committedMetadata: 'm' }] },
            ],
          });
          return notYet.has(r.topics[0]!.partitions[0]!.errorCode) ? undefined : r;
        },
        { timeoutMs: 30_000, description: 'group ""\'s coordinator to take the commit' },
      );
      expect(committed.topics[0]!.partitions[0]!.errorCode, `OffsetCommit v${v}`).toBe(0);
      const fetched = await client.send<kafka.OffsetFetchResponseData>(ApiKey.OffsetFetch, v, {
        groupId,
        topics: asked,
        groups: [{ groupId, topics: asked }],
      });
      const partitions = v >= 8 ? fetched.groups[0]!.topics[0]!.partitions : fetched.topics[0]!.partitions;
      expect(partitions[0], `OffsetFetch v${v}`).toMatchObject({ committedOffset: 10 + v, errorCode: 0 });
    }
    for (let v = 0; v <= 5; v++) {
      const described = await client.send<kafka.DescribeGroupsResponseData>(ApiKey.DescribeGroups, v, {
        groups: [groupId],
      });
      expect(described.groups[0], `DescribeGroups v${v}`).toMatchObject({ errorCode: 0, groupId, members: [] });
    }
    // Nobody joins it: the membership APIs and OffsetDelete refuse it, as Kafka's do.
    const invalid = ErrorCodes.INVALID_GROUP_ID.code;
    const join = await client.send<kafka.JoinGroupResponseData>(ApiKey.JoinGroup, 5, {
      groupId,
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: '',
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata }],
    });
    expect(join.errorCode).toBe(invalid);
    const offsetDelete = await client.send<kafka.OffsetDeleteResponseData>(ApiKey.OffsetDelete, 0, {
      groupId,
      topics: [{ name: topic, partitions: [{ partitionIndex: 0 }] }],
    });
    expect(offsetDelete.errorCode).toBe(invalid);
    const deleted = await client.send<kafka.DeleteGroupsResponseData>(ApiKey.DeleteGroups, 2, {
      groupsNames: [groupId],
    });
    expect(deleted.results).toEqual([{ groupId, errorCode: 0 }]);
    const after = await client.send<kafka.OffsetFetchResponseData>(ApiKey.OffsetFetch, 1, { groupId, topics: asked });
    expect(after.topics[0]!.partitions[0]!.committedOffset).toBe(-1);
  });

  it("a static member's old incarnation is told FENCED_INSTANCE_ID (fatal), not UNKNOWN_MEMBER_ID", async () => {
    // Told UNKNOWN_MEMBER_ID, librdkafka and sarama join again with the instance id and no member id, take
    // the instance back from the new process, which does the same in turn, for ever.
    const groupId = 'static-zombie';
    const instance = 'i-1';
    const notYet = new Set([ErrorCodes.NOT_COORDINATOR.code, ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code]);
    const join = (memberId: string) =>
      waitFor(
        async () => {
          const r = await client.send<kafka.JoinGroupResponseData>(ApiKey.JoinGroup, 5, {
            groupId,
            sessionTimeoutMs: 10_000,
            rebalanceTimeoutMs: 10_000,
            memberId,
            groupInstanceId: instance,
            protocolType: 'consumer',
            protocols: [{ name: 'range', metadata }],
          });
          return notYet.has(r.errorCode) ? undefined : r;
        },
        { timeoutMs: 30_000, description: `group ${groupId}'s coordinator to take the join` },
      );
    const first = await join('');
    expect(first).toMatchObject({ errorCode: 0, generationId: 1 });
    const sync = (memberId: string) =>
      client.send<kafka.SyncGroupResponseData>(ApiKey.SyncGroup, 3, {
        groupId,
        generationId: 1,
        memberId,
        groupInstanceId: instance,
        assignments: memberId === first.memberId ? [{ memberId, assignment: Buffer.from('a') }] : [],
      });
    expect((await sync(first.memberId)).errorCode).toBe(0);
    // The process restarts (or a second one starts with the same instance id): it takes the place.
    const restarted = await join('');
    expect(restarted.errorCode).toBe(0);
    expect(restarted.memberId).not.toBe(first.memberId);
    const beat = (memberId: string) =>
      client.send<kafka.HeartbeatResponseData>(ApiKey.Heartbeat, 3, {
        groupId,
        generationId: restarted.generationId,
        memberId,
        groupInstanceId: instance,
      });
    const fenced = ErrorCodes.FENCED_INSTANCE_ID.code;
    expect((await beat(first.memberId)).errorCode).toBe(fenced);
    expect((await sync(first.memberId)).errorCode).toBe(fenced);
    const committed = await client.send<kafka.OffsetCommitResponseData>(ApiKey.OffsetCommit, 7, {
      groupId,
      generationIdOrMemberEpoch: restarted.generationId,
      memberId: first.memberId,
      groupInstanceId: instance,
      topics: [{ name: topic, partitions: [{ partitionIndex: 0, committedOffset: 1, committedMetadata: '' }] }],
    });
    expect(committed.topics[0]!.partitions[0]!.errorCode).toBe(fenced);
    expect((await join(first.memberId)).errorCode).toBe(fenced);
    expect((await beat(restarted.memberId)).errorCode).toBe(0);
  });

  for (let v = 0; v <= 9; v++) {
    it(`JoinGroup v${v}, then sync, heartbeat, commit, fetch (v${v}), describe, list, leave, delete`, async () => {
      const groupId = `g${v}`;
      // As clients do: a coordinator still taking up its __consumer_offsets partition (FindCoordinator
      // names the partition's leader as soon as metadata does) answers NotCoordinator or
      // CoordinatorLoadInProgress for a moment, and the join is sent again.
      const notYet = new Set([ErrorCodes.NOT_COORDINATOR.code, ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code]);
      const join = (memberId: string) =>
        waitFor(
          async () => {
            const r = await client.send<kafka.JoinGroupResponseData>(ApiKey.JoinGroup, v, {
              groupId,
              sessionTimeoutMs: 10_000,
              rebalanceTimeoutMs: 10_000,
              memberId,
              protocolType: 'consumer',
              protocols: [{ name: 'range', metadata }],
            });
            return notYet.has(r.errorCode) ? undefined : r;
          },
          { timeoutMs: 30_000, description: `group ${groupId}'s coordinator to take the join` },
        );
      let joined = await join('');
      if (v >= 4) {
        expect(joined.errorCode).toBe(ErrorCodes.MEMBER_ID_REQUIRED.code);
        joined = await join(joined.memberId);
      }
      expect(joined).toMatchObject({ errorCode: 0, generationId: 1, protocolName: 'range' });
      expect(joined.leader).toBe(joined.memberId);
      expect(joined.members.map((m) => m.metadata.toString('hex'))).toEqual([metadata.toString('hex')]);
      const { memberId, generationId } = joined;
      const assignment = Buffer.from('the leader decides');
      const synced = await client.send<kafka.SyncGroupResponseData>(ApiKey.SyncGroup, Math.min(v, 5), {
        groupId,
        generationId,
        memberId,
        protocolType: 'consumer',
        protocolName: 'range',
        assignments: [{ memberId, assignment }],
      });
      expect(synced.errorCode).toBe(0);
      expect(synced.assignment.equals(assignment)).toBe(true);
      const beat = await client.send<kafka.HeartbeatResponseData>(ApiKey.Heartbeat, Math.min(v, 4), {
        groupId,
        generationId,
        memberId,
      });
      expect(beat.errorCode).toBe(0);
      const committed = await client.send<kafka.OffsetCommitResponseData>(ApiKey.OffsetCommit, v, {
        groupId,
        generationIdOrMemberEpoch: generationId,
        memberId,
        topics: [
          {
            name: topic,
            partitions: [{ partitionIndex: 1, committedOffset: 7, committedLeaderEpoch: 5, committedMetadata: 'm' }],
          },
        ],
      });
      // v0 has no generation: a simple commit, refused while the group has members.
      const expected = v === 0 ? ErrorCodes.UNKNOWN_MEMBER_ID.code : 0;
      expect(committed.topics[0]!.partitions[0]!.errorCode).toBe(expected);
      const asked = [{ name: topic, partitionIndexes: [1] }];
      const fetched = await client.send<kafka.OffsetFetchResponseData>(ApiKey.OffsetFetch, v, {
        groupId,
        topics: asked,
        groups: [{ groupId, topics: asked }],
      });
      const partitions = v >= 8 ? fetched.groups[0]!.topics[0]!.partitions : fetched.topics[0]!.partitions;
      expect(partitions[0]).toMatchObject({ partitionIndex: 1, committedOffset: v === 0 ? -1 : 7, errorCode: 0 });
      // KIP-320: OffsetCommit v6+ carries the leader epoch, OffsetFetch v5+ answers it (-1: unknown).
      if (v >= 5) expect(partitions[0]!.committedLeaderEpoch).toBe(v >= 6 ? 5 : -1);
      if (v >= 1) {
        // OffsetDelete v0: the member subscribes to 't' (its metadata), not to the committed topic.
        const deleted = await client.send<kafka.OffsetDeleteResponseData>(ApiKey.OffsetDelete, 0, {
          groupId,
          topics: [
            { name: topic, partitions: [{ partitionIndex: 1 }] },
            { name: 't', partitions: [{ partitionIndex: 0 }] },
          ],
        });
        expect(deleted.errorCode).toBe(0);
        expect(deleted.topics.map((t) => [t.name, t.partitions[0]!.errorCode])).toEqual([
          [topic, 0],
          ['t', ErrorCodes.GROUP_SUBSCRIBED_TO_TOPIC.code],
        ]);
        const after = await client.send<kafka.OffsetFetchResponseData>(ApiKey.OffsetFetch, 1, {
          groupId,
          topics: asked,
        });
        expect(after.topics[0]!.partitions[0]!.committedOffset).toBe(-1);
      }
      const described = await client.send<kafka.DescribeGroupsResponseData>(ApiKey.DescribeGroups, Math.min(v, 5), {
        groups: [groupId],
      });
      expect(described.groups[0]).toMatchObject({ errorCode: 0, groupState: 'Stable', protocolData: 'range' });
      expect(described.groups[0]!.members[0]!.memberAssignment.equals(assignment)).toBe(true);
      const listed = await client.send<kafka.ListGroupsResponseData>(ApiKey.ListGroups, Math.min(v, 5), {});
      expect(listed.groups.map((g) => g.groupId)).toContain(groupId);
      const left = await client.send<kafka.LeaveGroupResponseData>(ApiKey.LeaveGroup, Math.min(v, 5), {
        groupId,
        memberId,
        members: [{ memberId }],
      });
      expect(left.errorCode).toBe(0);
      if (v >= 3) expect(left.members.map((m) => m.errorCode)).toEqual([0]);
      const deleted = await client.send<kafka.DeleteGroupsResponseData>(ApiKey.DeleteGroups, v % 3, {
        groupsNames: [groupId],
      });
      expect(deleted.results).toEqual([{ groupId, errorCode: 0 }]);
    });
  }
});
