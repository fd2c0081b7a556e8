/**
 * The membership driver, run deterministically: a manual clock, a fake coordinator that follows
 * KIP-848's rule (a partition goes to a new owner only once its old owner has reported it gone) and
 * hosts that record which partitions each member consumes. Checked at every step: no partition is
 * consumed by two members at once.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '@samsa/protocol';
import type { Clock } from '../src/clock.js';
import { type HeartbeatOutcome, MembershipDriver } from '../src/group/driver.js';
import {
  type ApplicationProbe,
  type GroupPartition,
  type HeartbeatRequest,
  Membership,
} from '../src/group/membership.js';
import { silentLogger } from '../src/logger.js';

class ManualClock implements Clock {
  now = 0;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 0;

  nowMs(): number {
    return this.now;
  }

  setTimer(fn: () => void, delayMs: number): () => void {
    const id = this.nextId++;
    this.timers.push({ at: this.now + delayMs, fn, id });
    return () => {
      this.timers = this.timers.filter((t) => t.id !== id);
    };
  }

  /** Runs every timer due up to now + ms, in time order, settling promises after each. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await settle();
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.now = Math.max(this.now, next.at);
      next.fn();
    }
    this.now = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

interface FakeMember {
  epoch: number;
  owned: Set<number>;
  given: Set<number>;
  lastSeenMs: number;
}

/** A one-topic coordinator with KIP-848's safety rule and balanced contiguous targets. */
class FakeCoordinator {
  readonly members = new Map<string, FakeMember>();
  private nextMemberId = 1;
  /** Members whose next heartbeat is refused with FencedMemberEpoch. */
  readonly fenced = new Set<string>();
  /** When set, the next heartbeats are refused with this code (a coordinator moving). */
  refuseNext: { code: number; count: number } | undefined;

  constructor(
    private readonly clock: ManualClock,
    private readonly partitions: number,
    private readonly sessionTimeoutMs: number,
  ) {}

  heartbeat(request: HeartbeatRequest): HeartbeatOutcome {
    this.expire();
    if (this.refuseNext && this.refuseNext.count > 0) {
      this.refuseNext.count--;
      return { errorCode: this.refuseNext.code, errorMessage: 'injected' };
    }
    let id = request.memberId;
    if (request.memberEpoch === -1) {
      this.members.delete(id);
      return { errorCode: 0, memberId: id, memberEpoch: -1, heartbeatIntervalMs: 1_000, assignment: undefined };
    }
    if (this.fenced.has(id) && request.memberEpoch !== 0)
      return { errorCode: ErrorCodes.FENCED_MEMBER_EPOCH.code, errorMessage: 'fenced' };
    if (request.memberEpoch === 0) {
      if (id === '') id = `m${this.nextMemberId++}`;
      this.fenced.delete(id);
      this.members.set(id, { epoch: 1, owned: new Set(), given: new Set(), lastSeenMs: this.clock.now });
    }
    const member = this.members.get(id);
    if (!member) return { errorCode: ErrorCodes.UNKNOWN_MEMBER_ID.code, errorMessage: 'unknown' };
    if (request.memberEpoch !== 0 && request.memberEpoch !== member.epoch)
      return { errorCode: ErrorCodes.FENCED_MEMBER_EPOCH.code, errorMessage: 'fenced' };
    member.lastSeenMs = this.clock.now;
    member.owned = new Set(request.ownedPartitions.map((tp) => tp.partition));
    const target = this.targetOf(id);
    const assignment = new Set<number>();
    for (const p of target) if (!this.heldByOther(id, p)) assignment.add(p);
    if (!sameSet(assignment, member.given)) member.epoch++;
    member.given = assignment;
    return {
      errorCode: 0,
      memberId: id,
      memberEpoch: member.epoch,
      heartbeatIntervalMs: 1_000,
      assignment: [...assignment].map((partition) => ({ topic: 't', partition })),
    };
  }

  private heldByOther(id: string, p: number): boolean {
    for (const [other, m] of this.members) if (other !== id && (m.given.has(p) || m.owned.has(p))) return true;
    return false;
  }

  private targetOf(id: string): number[] {
    const ids = [...this.members.keys()].sort();
    const index = ids.indexOf(id);
    const out: number[] = [];
    for (let p = 0; p < this.partitions; p++) if (p % ids.length === index) out.push(p);
    return out;
  }

  expire(): void {
    // Strictly after: a request reaches the coordinator a moment after the member sent it.
    for (const [id, m] of this.members)
      if (this.clock.now - m.lastSeenMs > this.sessionTimeoutMs) this.members.delete(id);
  }
}

function sameSet(a: Set<number>, b: Set<number>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

interface TestMember {
  name: string;
  driver: MembershipDriver;
  consuming: Set<number>;
  revoked: number[][];
  lost: number;
  crashed: boolean;
  errors: Error[];
  /** While set, a loss waits for it (the application still working on records of the lost partitions). */
  loseGate?: Promise<void>;
  /** While set, a revocation waits for it before it stops the partitions (a slow onPartitionsRevoked). */
  revokeGate?: Promise<void>;
}

class World {
  readonly clock = new ManualClock();
  readonly coordinator: FakeCoordinator;
  readonly members: TestMember[] = [];
  /** Partition -> member consuming it, checked on every change. */
  private readonly consumer = new Map<number, string>();
  violations: string[] = [];

  constructor(
    partitions: number,
    readonly sessionTimeoutMs = 10_000,
  ) {
    this.coordinator = new FakeCoordinator(this.clock, partitions, sessionTimeoutMs);
  }

  add(name: string, poll: { maxPollIntervalMs: number; probe: () => ApplicationProbe } | undefined = undefined) {
    const membership = new Membership({
      maxPollIntervalMs: poll?.maxPollIntervalMs,
      rebalanceTimeoutMs: 60_000,
      sessionTimeoutMs: this.sessionTimeoutMs,
      serverAssignor: undefined,
      retryBackoffMs: 100,
      retryBackoffMaxMs: 1_000,
    });
    const member: TestMember = {
      name,
      consuming: new Set(),
      revoked: [],
      lost: 0,
      crashed: false,
      errors: [],
      driver: undefined as unknown as MembershipDriver,
    };
    const world = this;
    const transport = {
      heartbeat: async (request: HeartbeatRequest) => {
        await Promise.resolve();
        if (member.crashed) return new Promise<HeartbeatOutcome>(() => {});
        return world.coordinator.heartbeat(request);
      },
    };
    const host = {
      async revoke(partitions: readonly GroupPartition[]) {
        await Promise.resolve(); // committing takes a moment
        await member.revokeGate;
        member.revoked.push(partitions.map((tp) => tp.partition));
        for (const tp of partitions) world.stop(member, tp.partition);
      },
      async assign(partitions: readonly GroupPartition[]) {
        for (const tp of partitions) world.start(member, tp.partition);
      },
      markLost() {
        for (const p of [...member.consuming]) world.stop(member, p);
      },
      async lose() {
        await member.loseGate;
        member.lost++;
        for (const p of [...member.consuming]) world.stop(member, p);
      },
      fail(error: Error) {
        member.errors.push(error);
      },
    };
    member.driver = new MembershipDriver(membership, transport, this.clock, host, silentLogger, 'g', poll?.probe);
    member.driver.subscribe({ kind: 'topics', topics: ['t'] });
    this.members.push(member);
    return member;
  }

  private start(member: TestMember, p: number): void {
    const other = this.consumer.get(p);
    if (other !== undefined && other !== member.name)
      this.violations.push(`t=${this.clock.now}: ${member.name} starts partition ${p} that ${other} consumes`);
    this.consumer.set(p, member.name);
    member.consuming.add(p);
  }

  private stop(member: TestMember, p: number): void {
    if (this.consumer.get(p) === member.name) this.consumer.delete(p);
    member.consuming.delete(p);
  }

  /** A process gone: it consumes nothing, answers nothing, and its driver's timers stop. */
  crash(member: TestMember): void {
    member.crashed = true;
    member.driver.stop();
    for (const p of [...member.consuming]) this.stop(member, p);
  }

  counts(): number[] {
    return this.members.filter((m) => !m.crashed).map((m) => m.consuming.size);
  }

  /** Advances time until every partition is consumed with the given spread, or fails. */
  async until(check: () => boolean, what: string, limitMs = 60_000): Promise<number> {
    const start = this.clock.now;
    while (!check()) {
      if (this.clock.now - start > limitMs) throw new Error(`no ${what} after ${limitMs} ms: ${this.counts()}`);
      await this.clock.advance(100);
      expect(this.violations).toEqual([]);
    }
    return this.clock.now - start;
  }
}

const spread = (world: World, expected: number[]) => () =>
  JSON.stringify([...world.counts()].sort()) === JSON.stringify([...expected].sort());

describe('MembershipDriver against a KIP-848 coordinator (manual clock)', () => {
  it('three members split six partitions 2/2/2; a fourth joins and nobody consumes a partition twice', async () => {
    const world = new World(6);
    const [a, b, c] = [world.add('a'), world.add('b'), world.add('c')];
    await world.until(spread(world, [2, 2, 2]), '2/2/2');
    const before = new Map([a, b, c].map((m) => [m.name, new Set(m.consuming)]));
    world.add('d');
    await world.until(spread(world, [2, 2, 1, 1]), '2/2/1/1');
    // Incremental: a partition a member still has was never taken from it on the way.
    for (const m of [a, b, c]) {
      const kept = [...(before.get(m.name) as Set<number>)].filter((p) => m.consuming.has(p));
      expect(m.revoked.flat().filter((p) => kept.includes(p))).toEqual([]);
    }
    expect(world.violations).toEqual([]);
  });

  it('a member that leaves gives its partitions back at once; a crashed one loses them after the session', async () => {
    const world = new World(4, 5_000);
    const [a, b, c, d] = [world.add('a'), world.add('b'), world.add('c'), world.add('d')];
    await world.until(spread(world, [1, 1, 1, 1]), '1/1/1/1');
    let left = false;
    void d.driver.leave().then(() => {
      left = true;
    });
    const leaveMs = await world.until(() => left && spread(world, [2, 1, 1, 0])(), 'leave handled');
    expect(leaveMs).toBeLessThan(5_000);
    world.crash(c);
    const crashMs = await world.until(spread(world, [2, 2, 0]), 'crash handled');
    expect(crashMs).toBeGreaterThanOrEqual(4_000);
    expect(crashMs).toBeLessThan(5_000 + 3_000);
    expect(a.errors.concat(b.errors)).toEqual([]);
  });

  it('fenced members lose their partitions and rejoin; a moving coordinator only delays', async () => {
    const world = new World(6);
    const a = world.add('a');
    const b = world.add('b');
    await world.until(spread(world, [3, 3]), '3/3');
    world.coordinator.refuseNext = { code: ErrorCodes.NOT_COORDINATOR.code, count: 3 };
    await world.clock.advance(5_000);
    expect(world.counts()).toEqual([3, 3]);
    // b's epoch is fenced: it loses everything (no commit) and rejoins; its partitions stay its own
    // in the coordinator's view until it reports them gone.
    world.coordinator.fenced.add(b.driver.membership.memberId);
    await world.until(() => b.lost === 1, 'b fenced');
    await world.until(spread(world, [3, 3]), '3/3 again');
    expect(a.lost).toBe(0);
    expect(world.violations).toEqual([]);
  });

  it('a fenced member closed before its loss is handled still leaves: its partitions move at once', async () => {
    const world = new World(4, 10_000);
    const a = world.add('a');
    const b = world.add('b');
    await world.until(spread(world, [2, 2]), '2/2');
    let release = () => {};
    b.loseGate = new Promise((resolve) => {
      release = resolve;
    });
    world.coordinator.fenced.add(b.driver.membership.memberId);
    await world.until(() => b.driver.membership.state === 'fenced' && b.consuming.size === 0, 'b fenced');
    let left = false;
    void b.driver.leave().then(() => {
      left = true;
    });
    await world.clock.advance(1_000);
    expect(left).toBe(false); // the application still holds records of the lost partitions
    release();
    // The coordinator still counted b (at its old epoch) and its partitions: only b's leave frees them
    // before b's session ends there.
    const movedMs = await world.until(() => left && world.counts().join() === '4,0', 'a takes everything');
    expect(movedMs).toBeLessThan(5_000);
    expect(b.lost).toBe(1);
    expect(a.errors.concat(b.errors)).toEqual([]);
  });

  it('an application stuck past maxPollIntervalMs: its member leaves, the other takes over', async () => {
    const world = new World(4, 10_000);
    const a = world.add('a');
    // b's application takes a record at some point and does not come back for the next one.
    const app = { holding: false, handOuts: 0 };
    const b = world.add('b', { maxPollIntervalMs: 30_000, probe: () => app });
    await world.until(spread(world, [2, 2]), '2/2');
    // Records handed out and asked for again in time, for a minute: b stays.
    for (let i = 0; i < 12; i++) {
      app.holding = true;
      app.handOuts++;
      await world.clock.advance(5_000);
    }
    expect(world.counts()).toEqual([2, 2]);
    let back = () => {};
    b.loseGate = new Promise((resolve) => {
      back = resolve;
    });
    app.handOuts++;
    const stuckAtMs = world.clock.now;
    // Sessions go on (heartbeats from the timer), yet b leaves once the poll timer runs out: a takes
    // everything well before the stuck application comes back.
    const movedMs = await world.until(() => world.counts().join() === '4,0', 'a takes everything', 120_000);
    expect(world.clock.now - stuckAtMs).toBeGreaterThanOrEqual(30_000);
    expect(movedMs).toBeLessThan(30_000 + 30_000 / 8 + 2_000);
    expect(b.driver.membership.state).toBe('stale');
    expect(world.coordinator.members.has(b.driver.membership.memberId)).toBe(false);
    await world.clock.advance(60_000);
    expect(world.counts()).toEqual([4, 0]);
    // The application is back: the loss is reported and b joins again.
    app.holding = false;
    back();
    await world.until(spread(world, [2, 2]), '2/2 again');
    expect(b.lost).toBe(1);
    expect(a.errors.concat(b.errors)).toEqual([]);
  });

  it('a member leaving keeps its session while its revocation outlasts it: its partitions wait', async () => {
    const world = new World(4, 5_000);
    const a = world.add('a');
    const b = world.add('b');
    await world.until(spread(world, [2, 2]), '2/2');
    let release = () => {};
    b.revokeGate = new Promise((resolve) => {
      release = resolve;
    });
    let left = false;
    void b.driver.leave().then(() => {
      left = true;
    });
    // Three sessions long in onPartitionsRevoked (within the rebalance timeout): b is still a member.
    await world.clock.advance(15_000);
    expect(world.violations).toEqual([]);
    expect(world.coordinator.members.has(b.driver.membership.memberId)).toBe(true);
    expect(world.counts()).toEqual([2, 2]);
    release();
    await world.until(() => left && world.counts().join() === '4,0', 'a takes everything');
    expect(b.lost).toBe(0);
    expect(a.errors.concat(b.errors)).toEqual([]);
  });

  it('a member cut off from its coordinator for a session stops consuming before others take over', async () => {
    const world = new World(2, 4_000);
    const a = world.add('a');
    world.add('b');
    await world.until(spread(world, [1, 1]), '1/1');
    // a's heartbeats go nowhere from now on, but a itself runs on.
    const cutOff = a.driver as unknown as { transport: { heartbeat: () => Promise<HeartbeatOutcome> } };
    cutOff.transport.heartbeat = () =>
      Promise.resolve({ errorCode: ErrorCodes.NETWORK_EXCEPTION.code, errorMessage: 'cut off' });
    await world.until(() => a.lost === 1 && a.consuming.size === 0, 'a gives up');
    await world.until(() => world.counts().join() === '0,2', 'b takes over');
    expect(world.violations).toEqual([]);
  });
});
