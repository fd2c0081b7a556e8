/**
 * `<log dir>/meta.properties`, as Kafka writes it: which cluster and which broker id the data
 * directory belongs to.
 *
 *     version=0
 *     broker.id=1
 *     cluster.id=Ym9yb3dlZC1jbHVzdGVyLWlk
 *
 * A broker refuses to start when its configured id differs from the stored one, and refuses to join
 * a coordinator whose /cluster/id differs from the stored cluster id. The second check is what keeps
 * a broker's logs when it is pointed at the wrong ensemble, or at one that lost its data: that
 * coordinator knows none of the broker's topics, and the broker would otherwise delete every log as
 * stray. The directory is adopted by another cluster only when an operator removes the file.
 */
import { join } from 'node:path';
import { parseKeyValueLines, readTextIfExists, writeFileAtomic } from '../storage/files.js';

export const META_PROPERTIES_FILE = 'meta.properties';

export interface MetaProperties {
  readonly brokerId?: number;
  readonly clusterId?: string;
}

/** The data directory belongs to another broker id than the one configured. */
export class InconsistentBrokerIdError extends Error {
  constructor(
    readonly configured: number,
    readonly stored: number,
    readonly path: string,
  ) {
    super(
      `Configured broker id ${configured} does not match broker id ${stored} ` +
        `stored in ${path}: this data directory belongs to broker ${stored}`,
    );
    this.name = 'InconsistentBrokerIdError';
  }
}

/** The coordinator belongs to another cluster than the data directory. */
export class InconsistentClusterIdError extends Error {
  constructor(
    readonly coordinator: string,
    readonly stored: string,
    readonly path: string,
  ) {
    super(
      `The coordinator's cluster id ${coordinator} does not match cluster id ${stored} stored in ${path}: ` +
        'the broker is pointed at another cluster, or the coordinator lost its data. ' +
        `Remove ${path} only to make this data directory part of the ` +
        `new cluster (its logs of unknown topics are then deleted)`,
    );
    this.name = 'InconsistentClusterIdError';
  }
}

/** Java properties as Kafka writes them: `key=value` lines (or `key: value`), `#` comments (pure). */
export function parseMetaProperties(text: string): MetaProperties {
  const fields = parseKeyValueLines(text, /[=:]/);
  const id = fields.get('broker.id') ?? fields.get('node.id');
  const brokerId = id !== undefined && /^\d+$/.test(id) ? Number(id) : undefined;
  const clusterId = fields.get('cluster.id') || undefined;
  return { ...(brokerId !== undefined ? { brokerId } : {}), ...(clusterId !== undefined ? { clusterId } : {}) };
}

export function formatMetaProperties(props: { brokerId: number; clusterId?: string }): string {
  return (
    '#Written by the Samsa broker; remove only to move this directory to another cluster\n' +
    `version=0\nbroker.id=${props.brokerId}\n${props.clusterId ? `cluster.id=${props.clusterId}\n` : ''}`
  );
}

async function readStored(logDir: string): Promise<{ path: string; stored: MetaProperties }> {
  const path = join(logDir, META_PROPERTIES_FILE);
  const text = await readTextIfExists(path);
  return { path, stored: text === undefined ? {} : parseMetaProperties(text) };
}

/** At start, before the coordinator: the stored broker id must be the configured one; the first start records it. */
export async function checkBrokerId(logDir: string, brokerId: number): Promise<void> {
  const { path, stored } = await readStored(logDir);
  if (stored.brokerId !== undefined && stored.brokerId !== brokerId)
    throw new InconsistentBrokerIdError(brokerId, stored.brokerId, path);
  if (stored.brokerId === undefined)
    await writeFileAtomic(
      path,
      formatMetaProperties({ brokerId, ...(stored.clusterId ? { clusterId: stored.clusterId } : {}) }),
      logDir,
    );
}

/**
 * On joining (every session, so also after the coordinator was replaced under a running broker):
 * the coordinator's cluster id must be the stored one; the first join records it.
 */
export async function checkClusterId(logDir: string, brokerId: number, clusterId: string): Promise<void> {
  const { path, stored } = await readStored(logDir);
  if (stored.clusterId !== undefined && stored.clusterId !== clusterId)
    throw new InconsistentClusterIdError(clusterId, stored.clusterId, path);
  if (stored.clusterId === undefined)
    await writeFileAtomic(path, formatMetaProperties({ brokerId, clusterId }), logDir);
}
