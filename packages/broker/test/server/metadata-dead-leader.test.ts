/**
 * Metadata for a partition whose leader's broker is no longer registered (its session expired, and the
 * controller has not elected another yet): LEADER_NOT_AVAILABLE (5) with leader -1, as Kafka's metadata
 * cache answers, on the gRPC API and on the Kafka listener alike. Reported as led by the dead broker, a
 * client would send it its requests until its next refresh.
 */
import { kafka } from '@samsa/protocol/kafka';
import { describe, expect, it } from 'vitest';
import type { MetadataImage, TopicInfo } from '../../src/cluster/metadata.js';
import { metadata } from '../../src/kafka/metadata.js';
import type { BrokerContext } from '../../src/server/context.js';
import { handleMetadata } from '../../src/server/handlers/metadata.js';

const NO_MOVE = { stateZkVersion: 0, stateMzxid: '', addingReplicas: [], removingReplicas: [] };

/** t-0 led by broker 1 (registered), t-1 by broker 3 (gone), t-2 without a leader. */
function contextWith(): BrokerContext {
  const topic: TopicInfo = {
    name: 't',
    id: '',
    configs: {},
    partitions: [
      { topic: 't', partition: 0, leader: 1, leaderEpoch: 2, replicas: [1, 3], isr: [1, 3], ...NO_MOVE },
      { topic: 't', partition: 1, leader: 3, leaderEpoch: 5, replicas: [3, 1], isr: [3], ...NO_MOVE },
      { topic: 't', partition: 2, leader: -1, leaderEpoch: 1, replicas: [3], isr: [3], ...NO_MOVE },
    ],
  };
  const image: MetadataImage = {
    clusterId: 'c',
    brokers: new Map([
      [1, { id: 1, host: '127.0.0.1', port: 9001 }],
      [2, { id: 2, host: '127.0.0.1', port: 9002 }],
    ]),
    controllerId: 2,
    controllerEpoch: 1,
    topics: new Map([['t', topic]]),
    offlineReplicas: new Map(),
  };
  return { member: { metadata: { image } }, listenerName: 'PLAINTEXT', settings: {} } as unknown as BrokerContext;
}

describe("Metadata for a partition whose leader's broker is not registered", () => {
  it('gRPC: LEADER_NOT_AVAILABLE with leader -1, the epoch and replicas kept, the dead one offline', async () => {
    const answer = await handleMetadata(contextWith(), { topics: ['t'], allowAutoTopicCreation: false });
    const partitions = answer.topics![0]!.partitions!;
    expect(partitions.map((p) => [p.partition, p.errorCode, p.leader, p.leaderEpoch])).toEqual([
      [0, 0, 1, 2],
      [1, 5, -1, 5],
      [2, 5, -1, 1],
    ]);
    expect(partitions[1]).toMatchObject({ replicas: [3, 1], isr: [3], offlineReplicas: [3] });
  });

  it('Kafka listener: the same answer (LEADER_NOT_AVAILABLE, leader id -1)', async () => {
    for (const version of [1, 9, 12]) {
      const request = {
        topics: [{ name: 't', topicId: kafka.ZERO_UUID }],
        allowAutoTopicCreation: false,
        includeClusterAuthorizedOperations: false,
        includeTopicAuthorizedOperations: false,
      } as unknown as kafka.MetadataRequestData;
      const reply = await metadata(contextWith(), version, request);
      const partitions = (reply.body as kafka.MetadataResponseData).topics[0]!.partitions;
      expect(
        partitions.map((p) => [p.partitionIndex, p.errorCode, p.leaderId]),
        `v${version}`,
      ).toEqual([
        [0, 0, 1],
        [1, 5, -1],
        [2, 5, -1],
      ]);
    }
  });
});
