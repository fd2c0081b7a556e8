import { encodeBatch } from '@samsa/protocol';
import { ControlType } from '../storage/producer-state.js';
import type { TxnCoreConfig } from './core.js';
import { TRANSACTION_STATE_TOPIC } from './driver.js';

/** How __transaction_state is created: Kafka's settings, the replication factor capped by the live brokers. */
export function transactionStateTopicSpec(
  settings: { numPartitions: number; replicationFactor: number; minIsr: number; segmentBytes: number },
  liveBrokers: number,
): { name: string; numPartitions: number; replicationFactor: number; configs: Record<string, string> } {
  const replicationFactor = Math.max(1, Math.min(settings.replicationFactor, liveBrokers));
  return {
    name: TRANSACTION_STATE_TOPIC,
    numPartitions: settings.numPartitions,
    replicationFactor,
    configs: {
      'cleanup.policy': 'compact',
      'segment.bytes': String(settings.segmentBytes),
      'min.insync.replicas': String(Math.min(settings.minIsr, replicationFactor)),
    },
  };
}

/** The core's configuration from the broker's settings (Kafka's names). */
export function txnCoreConfigFrom(settings: Readonly<Record<string, unknown>>): TxnCoreConfig {
  return {
    maxTimeoutMs: settings['transaction.max.timeout.ms'] as number,
    transactionalIdExpirationMs: settings['transactional.id.expiration.ms'] as number,
  };
}

/**
 * A commit or abort marker as Kafka writes it: one control batch of the producer (transactional and
 * control bits, no sequence) holding one record whose key is (int16 version 0, int16 type: 0 abort,
 * 1 commit) and whose value is (int16 version 0, int32 coordinator epoch).
 */
export function encodeMarker(marker: {
  producerId: number;
  producerEpoch: number;
  commit: boolean;
  coordinatorEpoch: number;
  nowMs: number;
}): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(0, 0);
  key.writeInt16BE(marker.commit ? ControlType.commit : ControlType.abort, 2);
  const value = Buffer.alloc(6);
  value.writeInt16BE(0, 0);
  value.writeInt32BE(marker.coordinatorEpoch, 2);
  return encodeBatch([{ key, value }], {
    now: marker.nowMs,
    producerId: marker.producerId,
    producerEpoch: marker.producerEpoch,
    baseSequence: -1,
    transactional: true,
    control: true,
  });
}
