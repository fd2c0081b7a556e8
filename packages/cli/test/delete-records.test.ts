import { describe, expect, it } from 'vitest';
import { ErrorCodes, SamsaClientError } from '@samsa/client';
import { formatDeletion, parseOffsetJson } from '../src/commands/delete-records.js';

const usage = (text: string): [number, string] | undefined => {
  try {
    parseOffsetJson(text, 'f.json');
  } catch (err) {
    return [(err as { exitCode: number }).exitCode, (err as Error).message];
  }
  return undefined;
};

describe('samsa delete-records', () => {
  it("reads kafka-delete-records' offset JSON, refusing what Kafka's tool refuses", () => {
    const text = JSON.stringify({
      partitions: [
        { topic: 't', partition: 0, offset: 10 },
        { topic: 't', partition: 1, offset: -1 },
      ],
      version: 1,
    });
    expect(parseOffsetJson(text, 'f.json')).toEqual([
      { topic: 't', partition: 0, offset: 10 },
      { topic: 't', partition: 1, offset: -1 },
    ]);
    expect(usage('{')?.[0]).toBe(2);
    expect(usage('{"version":1}')).toEqual([
      2,
      'f.json: expected {"partitions":[{"topic":...,"partition":...,"offset":...}],"version":1}',
    ]);
    expect(usage('{"partitions":[{"topic":"t","partition":0,"offset":-2}]}')?.[1]).toMatch(/offset \(>= -1\)/);
    expect(usage('{"partitions":[{"topic":"t","partition":0}]}')?.[0]).toBe(2);
    const twice = '{"partitions":[{"topic":"t","partition":0,"offset":1},{"topic":"t","partition":0,"offset":2}]}';
    expect(usage(twice)).toEqual([2, 'f.json: partition t-0 is listed twice']);
  });

  it('prints one line per partition, its low watermark or its error, as Kafka does', () => {
    const error = new SamsaClientError(ErrorCodes.OFFSET_OUT_OF_RANGE, 'the high watermark is 3', {
      topic: 't',
      partition: 1,
    });
    expect(
      formatDeletion([
        { topic: 't', partition: 0, lowWatermark: 7 },
        { topic: 't', partition: 1, lowWatermark: -1, error },
      ]),
    ).toEqual({
      lines: [
        'Records delete operation completed:',
        'partition: t-0\tlow_watermark: 7',
        'partition: t-1\terror: OffsetOutOfRange: the high watermark is 3',
      ],
      failed: 1,
    });
  });
});
