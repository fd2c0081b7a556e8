/**
 * `<partition dir>/partition.metadata`, as Kafka writes it since topic ids (KIP-516):
 *
 *     version: 0
 *     topic_id: q7Zc3F0hT3yX9p2mWb1d_A
 *
 * It names the creation of the topic the log belongs to (TopicInfo.id). A broker that comes back
 * with the directory of a topic that was deleted and created again under the same name, while it
 * was away, finds a different id there and deletes the old records instead of serving them as the
 * new topic's.
 */
import { join } from 'node:path';
import { parseKeyValueLines, readTextIfExists, writeFileAtomic } from '../storage/files.js';

export const PARTITION_METADATA_FILE = 'partition.metadata';

/** The topic id in the file's text; undefined when there is none or the text is not the format (pure). */
export function parsePartitionMetadata(text: string): string | undefined {
  const fields = parseKeyValueLines(text, /:/);
  const id = fields.get('topic_id');
  return fields.get('version') === '0' && id ? id : undefined;
}

/** The topic id recorded in `dir`, or undefined (no file, or one that cannot be read as the format). */
export async function readPartitionTopicId(dir: string): Promise<string | undefined> {
  const text = await readTextIfExists(join(dir, PARTITION_METADATA_FILE));
  return text === undefined ? undefined : parsePartitionMetadata(text);
}

/** Records `topicId` in `dir` (atomically). */
export async function writePartitionTopicId(dir: string, topicId: string): Promise<void> {
  await writeFileAtomic(join(dir, PARTITION_METADATA_FILE), `version: 0\ntopic_id: ${topicId}\n`, dir);
}
