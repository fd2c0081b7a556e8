/**
 * The quick start: `samsa dev` opens a Kafka listener on every broker and prints the bootstrap list,
 * and `kcat -b <that list> -L` works on it with no other flag.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_MAIN } from '../helpers/cluster.js';
import { REPO_ROOT } from '../helpers/coordinator.js';
import { freePort } from '../helpers/ports.js';
import { spawnProcess, type SpawnedProcess } from '../helpers/process.js';
import { createTempDir } from '../helpers/temp.js';
import { available, run, toolPath } from '../kafka/tools.js';

const kcat = toolPath('kcat');
const temp = createTempDir('kafka-dev');
let dev: SpawnedProcess | undefined;

afterAll(async () => {
  await dev?.stop(20_000);
  temp.remove();
});

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
      .once('error', () => resolve(false))
      .listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A base port whose three gRPC ports and three Kafka ports (+10000) are free. */
async function freeBasePort(): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const ports = [0, 1, 2, 10_000, 10_001, 10_002].map((d) => base + d);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
}

describe.runIf(available('kcat', kcat !== undefined))('samsa dev', () => {
  it('prints the Kafka bootstrap list, and kcat -L reaches every broker through it', async () => {
    const base = await freeBasePort();
    dev = spawnProcess({
      name: 'samsa-dev',
      command: process.execPath,
      args: [
        CLI_MAIN,
        'dev',
        '--base-port',
        String(base),
        '--coordinator-port',
        String(await freePort()),
        '--data-dir',
        join(temp.path, 'data'),
      ],
      cwd: REPO_ROOT,
    });
    const [, bootstrap] = await dev.waitForOutput(/Kafka clients bootstrap from (\S+)/, 60_000);
    expect(bootstrap).toBe([0, 1, 2].map((i) => `127.0.0.1:${base + 10_000 + i}`).join(','));
    const result = await run(kcat!, ['-b', bootstrap!, '-L', '-J']);
    expect(result.code, result.stderr).toBe(0);
    const metadata = JSON.parse(result.stdout) as { brokers: { id: number; name: string }[] };
    expect(metadata.brokers.map((b) => b.name).sort()).toEqual(bootstrap!.split(',').sort());
  }, 90_000);
});
