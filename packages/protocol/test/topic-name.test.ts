import { describe, expect, it } from 'vitest';
import { ErrorCodes, MAX_TOPIC_NAME_LENGTH, SamsaError, checkTopicName, topicNameProblem } from '../src/index.js';

describe("Kafka's topic name rules", () => {
  it('accepts letters, digits, dot, underscore and dash up to 249 characters', () => {
    for (const name of ['orders', 'a', 'A.b_c-9', '__consumer_offsets', '...', 'x'.repeat(MAX_TOPIC_NAME_LENGTH)])
      expect(topicNameProblem(name)).toBeUndefined();
  });

  it('refuses the empty name, "." and "..", long names, other characters and non-strings', () => {
    expect(topicNameProblem('')).toBe('Topic name is empty');
    expect(topicNameProblem('.')).toBe('Topic name cannot be "."');
    expect(topicNameProblem('..')).toBe('Topic name cannot be ".."');
    expect(topicNameProblem('x'.repeat(250))).toBe('Topic name is 250 characters long; the limit is 249');
    for (const name of ['a/b', 'a b', 'ünï', 'a:b', 'tab\t', 'a\nb'])
      expect(topicNameProblem(name)).toMatch(/has characters other than ASCII letters/);
    expect(topicNameProblem(undefined)).toBe('Topic name must be a string, not undefined');
    expect(topicNameProblem(null)).toBe('Topic name must be a string, not null');
  });

  it('checkTopicName throws InvalidTopic, which is not retriable', () => {
    expect(() => checkTopicName('ok')).not.toThrow();
    try {
      checkTopicName('a/b');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SamsaError);
      expect(err).toMatchObject({
        code: ErrorCodes.INVALID_TOPIC_EXCEPTION.code,
        errorName: 'InvalidTopic',
        retriable: false,
      });
    }
  });
});
