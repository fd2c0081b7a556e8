/**
 * Producer ids for idempotent producers, handed out in blocks. As in Kafka's ZooKeeper mode, every
 * broker takes a block of ids for itself by a version-checked update of `/latest_producer_id_block`
 * (`{"version":1,"broker":B,"block_start":"S","block_end":"E"}`), so no two brokers ever hand out
 * the same id, and serves InitProducerId from it without asking anyone until it runs out.
 */
import { ErrorCodes, SamsaError } from '@samsa/protocol';

export const PRODUCER_ID_BLOCK_PATH = '/latest_producer_id_block';
/** Kafka's block size. */
export const PRODUCER_ID_BLOCK_SIZE = 1000;
/** Producer epochs are int16; at the last one a producer gets a new id instead of a bump. */
export const MAX_PRODUCER_EPOCH = 32_767;

export interface ProducerIdBlock {
  readonly brokerId: number;
  /** First and last id of the block, inclusive. */
  readonly start: number;
  readonly end: number;
}

export function encodeProducerIdBlock(block: ProducerIdBlock): string {
  return JSON.stringify({
    version: 1,
    broker: block.brokerId,
    block_start: String(block.start),
    block_end: String(block.end),
  });
}

export function decodeProducerIdBlock(data: Buffer | string): ProducerIdBlock {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString());
  } catch {
    throw new SamsaError(ErrorCodes.UNKNOWN_SERVER_ERROR, `${PRODUCER_ID_BLOCK_PATH} is not JSON`);
  }
  const { broker, block_start, block_end } = (parsed ?? {}) as Record<string, unknown>;
  const start = Number(block_start);
  const end = Number(block_end);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new SamsaError(ErrorCodes.UNKNOWN_SERVER_ERROR, `${PRODUCER_ID_BLOCK_PATH} holds a bad block`);
  }
  return { brokerId: Number(broker), start, end };
}

/** The block after `previous` (the first block when there is none), for `brokerId`. */
export function nextProducerIdBlock(
  previous: ProducerIdBlock | undefined,
  brokerId: number,
  size = PRODUCER_ID_BLOCK_SIZE,
): ProducerIdBlock {
  const start = previous === undefined ? 0 : previous.end + 1;
  if (start + size - 1 > Number.MAX_SAFE_INTEGER) {
    throw new SamsaError(ErrorCodes.UNKNOWN_SERVER_ERROR, 'producer ids are exhausted');
  }
  return { brokerId, start, end: start + size - 1 };
}

/**
 * Hands out ids from the current block, taking a new block (through `allocateBlock`, the ZooKeeper
 * edge) when it runs out. Concurrent callers share one allocation.
 */
export class ProducerIdManager {
  private next = 0;
  private end = -1;
  private allocating: Promise<void> | undefined;

  constructor(private readonly allocateBlock: () => Promise<ProducerIdBlock>) {}

  async nextId(): Promise<number> {
    while (this.next > this.end) {
      this.allocating ??= this.allocateBlock()
        .then((block) => {
          this.next = block.start;
          this.end = block.end;
        })
        .finally(() => {
          this.allocating = undefined;
        });
      await this.allocating;
    }
    return this.next++;
  }
}
