import { describe, expect, it } from 'vitest';
import {
  decodeBroker,
  decodeControllerEpoch,
  decodeControllerId,
  decodeOfflineReplicas,
  decodePartitionState,
  decodeTopic,
  decodeTopicAssignment,
  decodeTopicConfig,
  encodeBroker,
  encodeController,
  encodePartitionState,
  encodeTopicAssignment,
  encodeTopicConfig,
  newTopicId,
  partitionStatePath,
} from '../../src/controller/znodes.js';

describe('znode codecs (Kafka layout)', () => {
  it('a registration lists offline logs as offline_replicas, only when there are some', () => {
    const broker = { id: 3, host: 'h', port: 9092 };
    const data = encodeBroker(broker, [
      { topic: 'b', partition: 2 },
      { topic: 'a', partition: 1 },
      { topic: 'b', partition: 0 },
    ]);
    expect(JSON.parse(data).offline_replicas).toEqual({ b: [0, 2], a: [1] });
    expect(decodeBroker(3, data)).toEqual(broker);
    expect(decodeOfflineReplicas(3, data)).toEqual([
      { topic: 'b', partition: 0 },
      { topic: 'b', partition: 2 },
      { topic: 'a', partition: 1 },
    ]);
    expect(JSON.parse(encodeBroker(broker, []))).not.toHaveProperty('offline_replicas');
    expect(decodeOfflineReplicas(3, encodeBroker(broker))).toEqual([]);
    expect(() => decodeOfflineReplicas(3, '{"host":"h","port":1,"offline_replicas":[1]}')).toThrow(/offline_replicas/);
  });

  it('round-trips every value', () => {
    expect(decodeBroker(3, encodeBroker({ id: 3, host: 'h', port: 9092, rack: 'r1' }))).toEqual({
      id: 3,
      host: 'h',
      port: 9092,
      rack: 'r1',
    });
    expect(JSON.parse(encodeBroker({ id: 3, host: 'h', port: 1 }))).toEqual({ host: 'h', port: 1, version: 1 });
    expect(decodeControllerId(encodeController(4, 1700000000000))).toBe(4);
    expect(JSON.parse(encodeController(4, 17))).toEqual({ version: 1, brokerid: 4, timestamp: '17' });
    expect(
      decodeTopicAssignment(
        't',
        encodeTopicAssignment([
          [1, 2],
          [2, 1],
        ]),
      ),
    ).toEqual([
      [1, 2],
      [2, 1],
    ]);
    expect(decodeTopicConfig('t', encodeTopicConfig({ 'retention.ms': '1' }))).toEqual({ 'retention.ms': '1' });
    const s = { leader: 1, leaderEpoch: 2, isr: [1, 3], controllerEpoch: 4 };
    expect(decodePartitionState('t', 0, encodePartitionState(s))).toEqual(s);
    expect(partitionStatePath('t', 7)).toBe('/brokers/topics/t/partitions/7/state');
  });

  it('reads values as Kafka itself writes them (extra fields are ignored)', () => {
    const kafkaBroker =
      '{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},' +
      '"endpoints":["PLAINTEXT://kafka:9092"],"jmx_port":-1,"port":9092,"host":"kafka","version":5,' +
      '"timestamp":"1700000000000"}';
    expect(decodeBroker(0, kafkaBroker)).toEqual({
      id: 0,
      host: 'kafka',
      port: 9092,
      endpoints: [{ listener: 'PLAINTEXT', host: 'kafka', port: 9092 }],
    });
    expect(
      decodeTopicAssignment(
        't',
        '{"removing_replicas":{},"partitions":{"1":[0],"0":[0]},"topic_id":"x","adding_replicas":{},"version":3}',
      ),
    ).toEqual([[0], [0]]);
    expect(
      decodePartitionState('t', 0, '{"controller_epoch":1,"leader":0,"version":1,"leader_epoch":0,"isr":[0]}'),
    ).toEqual({ leader: 0, leaderEpoch: 0, isr: [0], controllerEpoch: 1 });
    expect(decodeControllerEpoch(Buffer.from('12'))).toBe(12);
    expect(decodeTopicConfig('t', '{"version":1,"config":{}}')).toEqual({});
  });

  it("topic ids: written at creation as Kafka's topic_id, read back; none when absent or all zero", () => {
    const id = newTopicId();
    expect(decodeTopic('t', encodeTopicAssignment([[1, 2]], id))).toEqual({
      replicas: [[1, 2]],
      topicId: id,
      moves: new Map(),
    });
    expect(JSON.parse(encodeTopicAssignment([[1]], id))).toEqual({
      version: 3,
      partitions: { '0': [1] },
      topic_id: id,
    });
    expect(decodeTopic('t', encodeTopicAssignment([[1]]))).toEqual({
      replicas: [[1]],
      topicId: undefined,
      moves: new Map(),
    });
    expect(
      decodeTopic('t', '{"version":3,"partitions":{"0":[0]},"topic_id":"AAAAAAAAAAAAAAAAAAAAAA"}').topicId,
    ).toBeUndefined();
    expect(() => decodeTopic('t', '{"version":3,"partitions":{"0":[0]},"topic_id":7}')).toThrow(
      /\/brokers\/topics\/t: "topic_id" is not a string/,
    );
  });

  it('new topic ids are 16 random bytes in URL-safe base64, never starting with "-"', () => {
    const ids = Array.from({ length: 2000 }, () => newTopicId());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    }
  });

  it('names the znode when a value is corrupt', () => {
    expect(() => decodePartitionState('t', 1, 'not json')).toThrow(/\/brokers\/topics\/t\/partitions\/1\/state/);
    expect(() => decodePartitionState('t', 1, '{"leader":"x"}')).toThrow(/"leader" is not an integer/);
    expect(() => decodeTopicAssignment('t', '{"partitions":{"0":[1],"2":[1]}}')).toThrow(/partition ids must be 0..1/);
    expect(() => decodeControllerEpoch('')).toThrow(/controller_epoch/);
  });
});
