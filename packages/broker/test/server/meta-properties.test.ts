import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  InconsistentBrokerIdError,
  InconsistentClusterIdError,
  META_PROPERTIES_FILE,
  checkBrokerId,
  checkClusterId,
  parseMetaProperties,
} from '../../src/server/meta-properties.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'samsa-meta-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const file = () => join(dir, META_PROPERTIES_FILE);

describe('meta.properties', () => {
  it('reads the file as Kafka writes it (comments, a timestamp line, node.id in KRaft)', () => {
    expect(
      parseMetaProperties(
        '#\n#Tue Nov 21 10:00:00 UTC 2026\ncluster.id=AbCdEfGhIjKlMnOpQrStUv\nversion=0\nbroker.id=3\n',
      ),
    ).toEqual({ brokerId: 3, clusterId: 'AbCdEfGhIjKlMnOpQrStUv' });
    expect(parseMetaProperties('version=1\nnode.id=7\ncluster.id=x\ndirectory.id=y\n')).toEqual({
      brokerId: 7,
      clusterId: 'x',
    });
    expect(parseMetaProperties('garbage\nbroker.id=-1\n')).toEqual({});
  });

  it('records the broker id on first use and refuses another one afterwards', async () => {
    await checkBrokerId(dir, 1);
    expect(parseMetaProperties(await readFile(file(), 'utf8'))).toEqual({ brokerId: 1 });
    await expect(checkBrokerId(dir, 1)).resolves.toBeUndefined();
    const refused = await checkBrokerId(dir, 2).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InconsistentBrokerIdError);
    expect((refused as Error).message).toBe(
      `Configured broker id 2 does not match broker id 1 stored in ${file()}: this data directory belongs to broker 1`,
    );
  });

  it('records the cluster id on the first join, then refuses another, whatever the order of checks', async () => {
    await checkBrokerId(dir, 1);
    await checkClusterId(dir, 1, 'cluster-a');
    expect(parseMetaProperties(await readFile(file(), 'utf8'))).toEqual({ brokerId: 1, clusterId: 'cluster-a' });
    await expect(checkClusterId(dir, 1, 'cluster-a')).resolves.toBeUndefined();
    // The broker id check keeps the cluster id.
    await checkBrokerId(dir, 1);
    expect(parseMetaProperties(await readFile(file(), 'utf8'))).toEqual({ brokerId: 1, clusterId: 'cluster-a' });
    const refused = await checkClusterId(dir, 1, 'cluster-b').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InconsistentClusterIdError);
    expect((refused as Error).message).toMatch(
      /^The coordinator's cluster id cluster-b does not match cluster id cluster-a stored in .*meta\.properties: /,
    );
    expect((refused as Error).message).toMatch(
      /: the broker is pointed at another cluster, or the coordinator lost its data\. Remove /,
    );
    expect(parseMetaProperties(await readFile(file(), 'utf8'))).toEqual({ brokerId: 1, clusterId: 'cluster-a' });
  });

  it('a file written by Kafka with only a cluster id gains the broker id and keeps the cluster id', async () => {
    await writeFile(file(), 'version=0\ncluster.id=from-kafka\n');
    await checkBrokerId(dir, 4);
    expect(parseMetaProperties(await readFile(file(), 'utf8'))).toEqual({ brokerId: 4, clusterId: 'from-kafka' });
    await expect(checkClusterId(dir, 4, 'other')).rejects.toBeInstanceOf(InconsistentClusterIdError);
  });
});
