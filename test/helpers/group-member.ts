/**
 * Consumer group members for tests: in a process of their own (test/helpers/group-consumer.mjs, to be
 * SIGKILLed or restarted), with what they report (partitions owned, records processed, offsets
 * committed) parsed from their output.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './coordinator.js';
import { type SpawnedProcess, spawnProcess } from './process.js';
import { waitFor } from './wait.js';

const SCRIPT = fileURLToPath(new URL('./group-consumer.mjs', import.meta.url));

export interface MemberEvent {
  event: string;
  partitions?: number[];
  partition?: number;
  offset?: number;
  value?: string;
  message?: string;
}

export interface GroupMemberOptions {
  name: string;
  bootstrap: readonly string[];
  topic: string;
  group: string;
  instanceId?: string;
  sessionTimeoutMs?: number;
  commit?: 'each' | 'auto';
  logDir?: string;
}

export class GroupMemberProcess {
  private parsedUpTo = 0;
  private readonly parsed: Array<MemberEvent & { atMs: number }> = [];

  private constructor(
    readonly name: string,
    readonly process: SpawnedProcess,
  ) {}

  static async start(options: GroupMemberOptions): Promise<GroupMemberProcess> {
    const args = [
      SCRIPT,
      '--bootstrap',
      options.bootstrap.join(','),
      '--topic',
      options.topic,
      '--group',
      options.group,
      '--session-timeout-ms',
      String(options.sessionTimeoutMs ?? 6_000),
      '--commit',
      options.commit ?? 'each',
      ...(options.instanceId !== undefined ? ['--instance', options.instanceId] : []),
    ];
    const child = spawnProcess({
      name: options.name,
      command: process.execPath,
      args,
      cwd: REPO_ROOT,
      maxOutputBytes: 64 * 1024 * 1024,
      ...(options.logDir ? { logFile: join(options.logDir, `${options.name}.log`) } : {}),
    });
    const member = new GroupMemberProcess(options.name, child);
    await child.waitForOutput(/"event":"subscribed"/, 20_000);
    return member;
  }

  /** Every event so far, each stamped with when the test first saw it. */
  events(): ReadonlyArray<MemberEvent & { atMs: number }> {
    const text = this.process.output();
    const end = text.lastIndexOf('\n') + 1;
    if (end > this.parsedUpTo) {
      const now = Date.now();
      for (const line of text.slice(this.parsedUpTo, end).split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          this.parsed.push({ ...(JSON.parse(line) as MemberEvent), atMs: now });
        } catch {
          // A log line that is not an event.
        }
      }
      this.parsedUpTo = end;
    }
    return this.parsed;
  }

  /** The partitions the member owns now, by its assigned/revoked/lost events. */
  owned(): number[] {
    const owned = new Set<number>();
    for (const e of this.events()) {
      if (e.event === 'assigned') for (const p of e.partitions ?? []) owned.add(p);
      if (e.event === 'revoked' || e.event === 'lost') for (const p of e.partitions ?? []) owned.delete(p);
    }
    return [...owned].sort((a, b) => a - b);
  }

  records(): Array<{ partition: number; offset: number; value: string }> {
    return this.events()
      .filter((e) => e.event === 'record')
      .map((e) => ({ partition: e.partition as number, offset: e.offset as number, value: e.value as string }));
  }

  /** Per partition, the last offset whose commit was acknowledged. */
  committed(): Map<number, number> {
    const out = new Map<number, number>();
    for (const e of this.events()) if (e.event === 'committed') out.set(e.partition as number, e.offset as number);
    return out;
  }

  async waitUntil(check: (member: this) => boolean, description: string, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      () => {
        const errors = this.events().filter((e) => e.event === 'error');
        if (errors.length > 0) throw new Error(`${this.name}: ${errors[0]?.message}`);
        return check(this);
      },
      { timeoutMs, description: `${this.name}: ${description}` },
    );
  }

  kill(): Promise<unknown> {
    return this.process.kill();
  }

  stop(): Promise<unknown> {
    return this.process.stop(15_000);
  }
}
