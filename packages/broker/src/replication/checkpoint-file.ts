/**
 * Kafka's checkpoint text files (leader-epoch-checkpoint, replication-offset-checkpoint), kept in the
 * same format so tools and habits carry over:
 *
 *     0            format version
 *     2            number of entries
 *     <fields>     one entry per line, fields separated by one space
 *
 * Parsing is pure and strict: anything else is a typed error naming the file and line.
 */
import { ErrorCodes, SamsaError } from '@samsa/protocol';

/** A checkpoint file exists but cannot be parsed. */
export class CorruptCheckpointError extends SamsaError {
  constructor(
    readonly path: string,
    readonly line: number,
    detail: string,
  ) {
    super(ErrorCodes.KAFKA_STORAGE_ERROR, `${path}:${line}: ${detail}`);
    this.name = 'CorruptCheckpointError';
  }
}

/** Builds the error for a line of the file being parsed. */
export type CorruptionAt = (line: number, detail: string) => CorruptCheckpointError;

/** The file's text (pure). */
export function formatCheckpoint(version: number, entries: readonly (readonly (string | number)[])[]): string {
  return `${[String(version), String(entries.length), ...entries.map((fields) => fields.join(' '))].join('\n')}\n`;
}

/** A non-negative safe integer field, or the file's corruption at `line`. */
export function checkpointInteger(
  value: string | undefined,
  line: number,
  what: string,
  corrupt: CorruptionAt,
): number {
  if (value === undefined || !/^\d+$/.test(value))
    throw corrupt(line, `expected ${what}, found ${JSON.stringify(value ?? '<end of file>')}`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw corrupt(line, `${what} ${value} is out of range`);
  return n;
}

/**
 * Checks the version and the entry count and splits each entry line into exactly as many fields as
 * `shape` names (e.g. "epoch startOffset"); returns them with their 1-based line numbers (pure).
 */
export function parseCheckpoint(
  text: string,
  version: number,
  shape: string,
  corrupt: CorruptionAt,
): { line: number; fields: string[] }[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const found = checkpointInteger(lines[0], 1, 'the version', corrupt);
  if (found !== version) throw corrupt(1, `unsupported version ${found}`);
  const count = checkpointInteger(lines[1], 2, 'the entry count', corrupt);
  if (lines.length !== count + 2)
    throw corrupt(2, `the header says ${count} entries, the file has ${Math.max(0, lines.length - 2)}`);
  const width = shape.split(' ').length;
  return lines.slice(2).map((text, i) => {
    const fields = text.split(' ');
    if (fields.length !== width) throw corrupt(i + 3, `expected "${shape}", found ${JSON.stringify(text)}`);
    return { line: i + 3, fields };
  });
}
