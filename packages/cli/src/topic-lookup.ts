import type { ServiceError } from '@grpc/grpc-js';
import type { v1 } from '@samsa/protocol';
import { CliError } from './errors.js';

/** What one Metadata request that lets the brokers create the topic says about it. */
export type TopicLookup =
  | { readonly state: 'exists'; readonly partitions: number }
  /** Created by this request (auto.create.topics.enable=true), or a moment ago: not usable yet. */
  | { readonly state: 'creating' }
  /** It does not exist and the brokers do not create topics on use (auto.create.topics.enable=false). */
  | { readonly state: 'unknown' };

/** Bound on the one request (the CLI's request timeout, connect.ts). */
const LOOKUP_TIMEOUT_MS = 15_000;

/**
 * One Metadata request for `topic` that allows auto-creation, as the first metadata request of Kafka's
 * console producer and consumer: a broker answers at once with the topic, with LeaderNotAvailable after
 * creating it (auto.create.topics.enable=true), or with UnknownTopicOrPartition when it will not create it.
 * The SDK makes the same request but, as Kafka's clients do, retries UnknownTopicOrPartition until
 * default.api.timeout.ms (the topic may be being created elsewhere), and its admin never creates topics;
 * so the CLI asks once itself, on a channel of its own. The bootstrap brokers are tried in turn; a
 * topic-level error other than those (InvalidReplicationFactor from the auto-creation, say) is thrown.
 */
export async function lookUpTopic(
  brokers: readonly string[],
  topic: string,
  signal?: AbortSignal,
): Promise<TopicLookup | 'aborted'> {
  const grpc = await import('@grpc/grpc-js');
  const { ErrorCodes, errorSpecForCode, loadBrokerProto } = await import('@samsa/protocol');
  const Broker = loadBrokerProto().Broker;
  let lastError: unknown;
  for (const address of brokers) {
    const client = new Broker(address, grpc.credentials.createInsecure());
    try {
      const response = await new Promise<v1.MetadataResponse__Output>((resolve, reject) => {
        const call = client.Metadata(
          { topics: [topic], allowAutoTopicCreation: true },
          { deadline: Date.now() + LOOKUP_TIMEOUT_MS },
          (err: ServiceError | null, answer?: v1.MetadataResponse__Output) =>
            err || !answer ? reject(err ?? new Error('empty answer')) : resolve(answer),
        );
        signal?.addEventListener('abort', () => call.cancel(), { once: true });
      });
      const found = response.topics.find((t) => t.name === topic);
      if (!found) throw new CliError(`broker ${address} did not answer for topic ${topic}`);
      if (found.errorCode === ErrorCodes.NONE.code) return { state: 'exists', partitions: found.partitions.length };
      if (found.errorCode === ErrorCodes.LEADER_NOT_AVAILABLE.code) return { state: 'creating' };
      if (found.errorCode === ErrorCodes.UNKNOWN_TOPIC_OR_PARTITION.code) return { state: 'unknown' };
      const spec = errorSpecForCode(found.errorCode);
      throw new CliError(`${spec.name}: ${found.errorMessage || spec.message} (topic ${topic})`);
    } catch (err) {
      if (signal?.aborted) return 'aborted';
      if (err instanceof CliError) throw err;
      lastError = err; // this broker did not answer: the next one may
    } finally {
      client.close();
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new CliError(`could not look topic ${topic} up at ${brokers.join(', ')}: ${reason}`);
}
