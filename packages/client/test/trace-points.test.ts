import { Samsa } from '@samsa/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TestCluster } from './support/test-cluster.js';

// The request timeline's hook (@samsa/protocol's trace), installed before any module reads it, as
// scripts/bench-probe.cjs does in a preloaded process.
const hook = vi.hoisted(() => {
  const events: [string, number, number?, number?][] = [];
  (globalThis as Record<symbol, unknown>)[Symbol.for('samsa.trace')] = (
    event: string,
    partition: number,
    a?: number,
    b?: number,
  ) => events.push([event, partition, a, b]);
  return { events };
});

let cluster: TestCluster | undefined;
let samsa: Samsa | undefined;
afterEach(async () => {
  await samsa?.close();
  await cluster?.stop();
});

describe("the producer's trace points (the request timeline)", () => {
  it("mark each partition's request when written and its answer, with the records and base offset", async () => {
    cluster = await TestCluster.start();
    cluster.createTopic('t', 1);
    samsa = new Samsa({ brokers: cluster.bootstrap });
    const producer = samsa.producer();
    await producer.sendBatch({ topic: 't', messages: [{ value: 'a' }, { value: 'b' }] });
    await producer.send({ topic: 't', value: 'c' });
    const sends = hook.events.filter((e) => e[0] === 'c.send');
    expect(sends.map((e) => [e[1], e[2]])).toEqual([
      [0, 2],
      [0, 1],
    ]);
    for (const e of sends) expect(e[3]).toBeGreaterThanOrEqual(0); // ms the oldest batch waited
    expect(hook.events.filter((e) => e[0] === 'c.ack')).toEqual([
      ['c.ack', 0, 0, undefined],
      ['c.ack', 0, 2, undefined],
    ]);
  });
});
