/**
 * An SDK script that forgets close() never exits (issue 16): the open client can be found, by
 * Samsa.openClients() and by its debug log lines, and closing it lets the process exit.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../helpers/cluster.js';
import { spawnProcess } from '../helpers/process.js';

const CLIENT = fileURLToPath(new URL('../../packages/client/dist/index.js', import.meta.url));

let cluster: LocalCluster;

beforeAll(async () => {
  cluster = await LocalCluster.start({ brokers: 1 });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

/** A script that sends one record and closes its producer; the client is closed only if `closeClient`. */
function script(closeClient: boolean): string {
  return `
    import { Samsa } from ${JSON.stringify(CLIENT)};
    const line = (level) => (context, message) => console.log(JSON.stringify({ level, ...context, msg: message }));
    const logger = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
    const samsa = new Samsa({ brokers: [${JSON.stringify(cluster.bootstrap[0])}], clientId: 'forgetful', logger });
    const producer = samsa.producer();
    await producer.send({ topic: 'open-client-${process.pid}', value: 'x' });
    await producer.close();
    console.log(JSON.stringify({ openClients: Samsa.openClients() }));
    ${closeClient ? 'await samsa.close(); console.log(JSON.stringify({ openClients: Samsa.openClients() }));' : ''}
  `;
}

describe('an open client keeping a process alive', () => {
  it('is named by Samsa.openClients() and by a debug line when its producer closes', async () => {
    const child = spawnProcess({
      name: 'forgetful',
      command: process.execPath,
      args: ['--input-type=module', '-e', script(false)],
    });
    try {
      const [, listed] = (await child.waitForOutput(/\{"openClients":(.*)\}\n/)) as unknown as [string, string];
      expect(JSON.parse(listed)).toEqual([
        { clientId: 'forgetful', connections: [cluster.bootstrap[0]], producers: 0, consumers: 0 },
      ]);
      expect(child.output()).toMatch(/"msg":"client opened: it keeps the process alive until close\(\)/);
      const producerClosed = 'producer closed; the client is still open and keeps the process alive until close\\(\\)';
      expect(child.output()).toMatch(new RegExp(`"clientId":"forgetful"[^\\n]*"msg":"${producerClosed}"`));
      expect(child.hasExited()).toBe(false);
    } finally {
      await child.kill();
    }
  });

  it('closing it lets the process exit, and it is no longer listed', async () => {
    const child = spawnProcess({
      name: 'tidy',
      command: process.execPath,
      args: ['--input-type=module', '-e', script(true)],
    });
    const status = await child.exited;
    expect(status).toEqual({ code: 0, signal: null });
    expect(child.output()).toMatch(/\{"openClients":\[\]\}\n$/);
    expect(child.output()).toMatch(/"msg":"client closed"/);
  });
});
