/**
 * What a conformance case gets: the running target, a unique base path (already created), clients that
 * are closed after the case, a transcript, and a log of watch events in arrival order.
 */
import { expect } from 'vitest';
import { withTimeout, waitFor } from '../../helpers/wait.js';
import { ZkTestClient, zookeeper, type ConnectOptions, type Event, type Watcher } from '../../helpers/zk-client.js';
import { WireClient, type WireConnectOptions } from '../../helpers/zk-wire.js';
import type { RunningTarget } from './targets.js';
import { Transcript } from './transcript.js';

export interface ConformanceCase {
  name: string;
  run(context: CaseContext): Promise<void>;
}

export interface ObservedEvent {
  /** Who registered the watch, e.g. 'A data'. */
  watcher: string;
  type: string;
  path: string;
}

export class CaseContext {
  readonly transcript: Transcript;
  readonly events: ObservedEvent[] = [];
  private readonly clients: ZkTestClient[] = [];
  private readonly wires: WireClient[] = [];
  private barrierCount = 0;

  constructor(
    readonly target: RunningTarget,
    /** A unique, existing persistent node for this case, e.g. '/t-create-persistent'. */
    readonly base: string,
  ) {
    this.transcript = new Transcript(base);
  }

  /** A node-zookeeper-client session named `label` in the transcript. */
  async client(label: string, options: ConnectOptions = {}): Promise<ZkTestClient> {
    const client = await ZkTestClient.connect(this.target.connectString, options);
    this.clients.push(client);
    this.transcript.labelSession(client.sessionId().readBigInt64BE(0), label);
    return client;
  }

  /** A raw wire-protocol connection; labels its session unless the server refused it. */
  async wire(label: string, options: WireConnectOptions = {}): Promise<WireClient> {
    const wire = await WireClient.connect(this.target.host, this.target.port, options);
    this.wires.push(wire);
    if (!wire.session.expired) this.transcript.labelSession(wire.session.id, label);
    return wire;
  }

  path(relative: string): string {
    return `${this.base}/${relative}`;
  }

  record(step: string, value: unknown = null): void {
    this.transcript.record(step, value);
  }

  /**
   * A watcher that logs its events under `name`, and records them in the transcript in arrival order
   * unless `inTranscript` is false (for events whose relative order is not specified, e.g. the
   * deletions of a session's ephemerals; record those sorted instead).
   */
  watcher(name: string, inTranscript = true): Watcher {
    return (event: Event) => {
      const observed = { watcher: name, type: event.getName(), path: event.getPath() };
      this.events.push(observed);
      if (inTranscript) this.record(`event ${name}`, `${observed.type} ${observed.path}`);
    };
  }

  /** Waits until `count` events have been observed in total. */
  async eventCount(count: number, timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.events.length >= count, {
      timeoutMs,
      intervalMs: 10,
      description: `${count} watch events (have ${this.events.length})`,
    });
  }

  /**
   * Proves that no further events are in flight for `observer`: it watches a fresh node that `writer`
   * then creates. A server sends one client's notifications in commit order, so once this one arrives,
   * any event caused by an earlier write would have arrived too. Lets tests assert "no event" without
   * sleeping.
   */
  async barrier(observer: ZkTestClient, writer: ZkTestClient): Promise<void> {
    const path = this.path(`barrier-${this.barrierCount++}`);
    let fired = false;
    await observer.exists(path, () => {
      fired = true;
    });
    await writer.create(path);
    await waitFor(() => fired, { timeoutMs: 10_000, intervalMs: 5, description: `the barrier watch on ${path}` });
    await writer.remove(path);
  }

  /** Closes every client and connection the case opened. */
  async cleanup(): Promise<void> {
    for (const wire of this.wires) wire.abandon();
    await Promise.allSettled(this.clients.map((client) => withTimeout(client.close(), 5_000, 'client close')));
  }
}

export const CreateMode = zookeeper.CreateMode;

/** Asserts the relations every freshly created node's stat has on every target. */
export function expectFreshStat(stat: {
  czxid: Buffer;
  mzxid: Buffer;
  pzxid: Buffer;
  ctime: Buffer;
  mtime: Buffer;
  version: number;
  cversion: number;
  aversion: number;
}): void {
  expect(stat.mzxid.equals(stat.czxid)).toBe(true);
  expect(stat.pzxid.equals(stat.czxid)).toBe(true);
  expect(stat.mtime.equals(stat.ctime)).toBe(true);
  expect([stat.version, stat.cversion, stat.aversion]).toEqual([0, 0, 0]);
  const ctimeMs = Number(stat.ctime.readBigInt64BE(0));
  expect(Math.abs(ctimeMs - Date.now())).toBeLessThan(60_000);
}
