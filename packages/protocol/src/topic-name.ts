/**
 * Kafka's topic name rules (org.apache.kafka.common.internals.Topic.validate), in one place for the
 * CLI, the SDK and the broker: a name is 1 to 249 characters of ASCII letters, digits, '.', '_' and
 * '-', and not '.' or '..' (the name becomes a directory name on every broker). Pure.
 */
import { ErrorCodes, SamsaError } from './errors.js';

/** Longer names would not leave room for the partition suffix in a 255-byte directory name. */
export const MAX_TOPIC_NAME_LENGTH = 249;

/**
 * Upper bound on a topic's partitions, shared by the broker (which refuses more) and the tools (which
 * say so before asking): a topic is written to the coordinator in one multi(), which must fit
 * ZooKeeper's 1 MiB request limit (jute.maxbuffer), and every broker keeps it in memory.
 */
export const MAX_PARTITIONS_PER_TOPIC = 5_000;

const LEGAL_TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;

/** Why `name` is not a legal topic name, or undefined when it is. */
export function topicNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return `Topic name must be a string, not ${name === null ? 'null' : typeof name}`;
  if (name.length === 0) return 'Topic name is empty';
  if (name === '.' || name === '..') return `Topic name cannot be "${name}"`;
  if (name.length > MAX_TOPIC_NAME_LENGTH)
    return `Topic name is ${name.length} characters long; the limit is ${MAX_TOPIC_NAME_LENGTH}`;
  if (!LEGAL_TOPIC_NAME.test(name))
    return `Topic name "${name}" has characters other than ASCII letters, digits, '.', '_' and '-'`;
  return undefined;
}

/** Throws InvalidTopic (Kafka's error 17, not retriable) when `name` is not a legal topic name. */
export function checkTopicName(name: unknown): asserts name is string {
  const problem = topicNameProblem(name);
  if (problem !== undefined) throw new SamsaError(ErrorCodes.INVALID_TOPIC_EXCEPTION, problem);
}
