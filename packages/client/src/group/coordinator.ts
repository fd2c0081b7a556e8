/**
 * Reaching a group's coordinator: FindCoordinator on any broker, the answer cached per group, and
 * forgotten when the coordinator says it is not (any more) the one, is not available, or cannot be
 * reached. Group RPCs go through `call` (one attempt) or `callWithRetries` (until the client's
 * defaultApiTimeoutMs, backing off while the coordinator moves or loads its groups).
 */
import { ErrorCodes, type v1 } from '@samsa/protocol';
import { brokerAddress, type Cluster } from '../cluster.js';
import { type SamsaClientError, errorFromCode, isConnectionFailure } from '../errors.js';
import { withRetries } from '../retry.js';
import type { BrokerConnection, BrokerRpcs, RpcName } from '../transport.js';

/** FindCoordinator key type of consumer groups (1 is for transactional ids). */
const GROUP_KEY_TYPE = 0;

/** Errors that mean "find the coordinator again": it moved, or is not there. */
const COORDINATOR_MOVED = new Set<number>([ErrorCodes.NOT_COORDINATOR.code, ErrorCodes.COORDINATOR_NOT_AVAILABLE.code]);

export function isCoordinatorError(code: number): boolean {
  return COORDINATOR_MOVED.has(code) || code === ErrorCodes.COORDINATOR_LOAD_IN_PROGRESS.code;
}

export interface CoordinatorNode {
  readonly nodeId: number;
  readonly address: string;
}

export class GroupCoordinators {
  private readonly known = new Map<string, CoordinatorNode>();
  private readonly finding = new Map<string, Promise<CoordinatorNode>>();

  constructor(private readonly cluster: Cluster) {}

  /** The coordinator of `groupId`, asked of any broker when not known (one FindCoordinator, no retries). */
  find(groupId: string, signal?: AbortSignal): Promise<CoordinatorNode> {
    const known = this.known.get(groupId);
    if (known) return Promise.resolve(known);
    let finding = this.finding.get(groupId);
    if (!finding) {
      finding = this.lookUp(groupId, signal).finally(() => this.finding.delete(groupId));
      this.finding.set(groupId, finding);
    }
    return finding;
  }

  forget(groupId: string): void {
    this.known.delete(groupId);
  }

  private async lookUp(groupId: string, signal?: AbortSignal): Promise<CoordinatorNode> {
    const response = await this.cluster.callAny(
      'FindCoordinator',
      { keyType: GROUP_KEY_TYPE, keys: [groupId] },
      { signal },
    );
    const answer = response.coordinators.find((c) => c.key === groupId) ?? response.coordinators[0];
    if (!answer) throw errorFromCode(ErrorCodes.COORDINATOR_NOT_AVAILABLE.code, `no coordinator for group ${groupId}`);
    if (answer.errorCode !== 0)
      throw errorFromCode(answer.errorCode, `group ${groupId}: ${answer.errorMessage || 'no coordinator'}`);
    const node = { nodeId: answer.nodeId, address: brokerAddress(answer.host, answer.port) };
    this.known.set(groupId, node);
    return node;
  }

  connection(node: CoordinatorNode): BrokerConnection {
    return this.cluster.options.pool.get(node.address);
  }

  /**
   * One group RPC on the group's coordinator: finds it if needed; a transport failure or an answer
   * saying the coordinator moved (`errorCodeOf` the response) forgets it, so the next call looks again.
   */
  async call<M extends RpcName>(
    groupId: string,
    method: M,
    request: BrokerRpcs[M][0],
    errorCodeOf: (response: BrokerRpcs[M][1]) => number,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<BrokerRpcs[M][1]> {
    const node = await this.find(groupId, options.signal);
    let response: BrokerRpcs[M][1];
    try {
      response = await this.connection(node).call(method, request, {
        timeoutMs: options.timeoutMs ?? this.cluster.options.requestTimeoutMs,
        signal: options.signal,
      });
    } catch (err) {
      if (isConnectionFailure(err)) this.forgetIf(groupId, node);
      throw err;
    }
    if (COORDINATOR_MOVED.has(errorCodeOf(response))) this.forgetIf(groupId, node);
    return response;
  }

  /**
   * `call` until the coordinator answers with something other than a coordinator error (moved, not
   * available, loading), backing off in between; the answer is returned as it is, other errors
   * inside it included. Gives up with the last error after the client's defaultApiTimeoutMs.
   */
  async callWithRetries<M extends RpcName>(
    groupId: string,
    method: M,
    request: () => BrokerRpcs[M][0],
    errorCodeOf: (response: BrokerRpcs[M][1]) => number,
    options: { signal?: AbortSignal; deadline?: number } = {},
  ): Promise<BrokerRpcs[M][1]> {
    const deadline = options.deadline ?? Date.now() + this.cluster.options.defaultApiTimeoutMs;
    return withRetries(
      async () => {
        const response = await this.call(groupId, method, request(), errorCodeOf, options);
        const code = errorCodeOf(response);
        if (isCoordinatorError(code)) throw errorFromCode(code, `group ${groupId}`);
        return response;
      },
      { retry: { ...this.cluster.options.retry, retries: Number.MAX_SAFE_INTEGER }, deadline, signal: options.signal },
    );
  }

  private forgetIf(groupId: string, node: CoordinatorNode): void {
    if (this.known.get(groupId) === node) this.known.delete(groupId);
  }
}

/** The response's group-level error code, for responses that carry one. */
export const groupErrorCode = (response: { errorCode: number }): number => response.errorCode;

/** Wire partitions (TopicPartitionsList) from a flat list, grouped by topic. */
export function toTopicPartitions(list: readonly { topic: string; partition: number }[]): v1.GroupTopicPartitions[] {
  const byTopic = new Map<string, number[]>();
  for (const { topic, partition } of list) {
    let partitions = byTopic.get(topic);
    if (!partitions) {
      partitions = [];
      byTopic.set(topic, partitions);
    }
    partitions.push(partition);
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions: partitions.sort((a, b) => a - b) }));
}

export function fromTopicPartitions(
  list: readonly v1.GroupTopicPartitions__Output[],
): { topic: string; partition: number }[] {
  return list.flatMap(({ topic, partitions }) => partitions.map((partition) => ({ topic, partition })));
}

/** A SamsaClientError for a refused group request. */
export function groupError(code: number, message: string, groupId: string): SamsaClientError {
  return errorFromCode(code, `group ${groupId}: ${message || 'refused'}`);
}
