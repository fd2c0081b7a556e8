/**
 * `samsa dev`'s supervisor: starts the members in order and waits until each answers as itself,
 * restarts a member that dies (with backoff, saying so), and stops or starts one on request
 * (`samsa dev stop|start|restart NAME`, through the control socket). Members watch their IPC channel
 * to it, so none outlives it, however it dies.
 */
import { CliError } from '../errors.js';
import { type MemberSpec, MemberProcess, exitText } from './member.js';

const READY_TIMEOUT_MS = 30_000;
const PROBE_INTERVAL_MS = 200;
/** A member still running this long after SIGTERM is killed. */
const STOP_GRACE_MS = 20_000;
/** Restart delays double from the first to the last; a member that ran this long starts again at the first. */
const FIRST_RESTART_DELAY_MS = 1_000;
const MAX_RESTART_DELAY_MS = 30_000;
const STABLE_RUN_MS = 30_000;

/** The delay before restart number `failures` + 1 of a member that keeps failing (pure). */
export function restartDelayMs(failures: number): number {
  return Math.min(MAX_RESTART_DELAY_MS, FIRST_RESTART_DELAY_MS * 2 ** Math.min(failures, 16));
}

interface Slot {
  readonly spec: MemberSpec;
  process: MemberProcess | undefined;
  /** Kept running by the supervisor (false once stopped on request). */
  wanted: boolean;
  restartTimer: NodeJS.Timeout | undefined;
  restartAtMs: number | undefined;
  failures: number;
  restarts: number;
}

export class Supervisor {
  private readonly slots: Slot[];
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(
    specs: readonly MemberSpec[],
    private readonly print: (line: string) => void,
  ) {
    this.slots = specs.map((spec) => ({
      spec,
      process: undefined,
      wanted: true,
      restartTimer: undefined,
      restartAtMs: undefined,
      failures: 0,
      restarts: 0,
    }));
  }

  /** Member names, in start order. */
  get names(): string[] {
    return this.slots.map((s) => s.spec.name);
  }

  pidOf(name: string): number | undefined {
    return this.slot(name).process?.pid;
  }

  /**
   * Starts the members group by group (each group once the one before answers), as one line each of
   * what they answered as. The first failure stops everything and is thrown as one line.
   */
  async startAll(groups: readonly (readonly string[])[]): Promise<string[]> {
    const answers: string[] = [];
    try {
      for (const group of groups) {
        const launched = group.map((name) => this.launch(this.slot(name)));
        answers.push(...(await Promise.all(launched.map(([slot, process]) => this.waitReady(slot, process)))));
      }
    } catch (err) {
      // Ctrl-C while starting stops the members, which then fail their readiness: not their fault.
      if (this.stopping) throw new CliError('stopped before the cluster was up');
      await this.stopAll();
      throw err;
    }
    this.started = true;
    return answers;
  }

  /** Brokers first, so they can deregister while the coordinator is still up. */
  stopAll(): Promise<void> {
    this.stopping ??= (async () => {
      for (const slot of this.slots) this.cancelRestart(slot);
      const coordinator = this.slots.filter((s) => s.spec.name === 'coordinator');
      const others = this.slots.filter((s) => s.spec.name !== 'coordinator');
      for (const group of [others, coordinator]) await Promise.all(group.map((s) => stopProcess(s.process)));
    })();
    return this.stopping;
  }

  /** The last resort when the supervisor exits: no member outlives it (they also watch their IPC channel). */
  killAll(): void {
    for (const slot of this.slots) slot.process?.signal('SIGKILL');
  }

  /** `samsa dev stop|start|restart|status [NAME]`: the answer to print. */
  async control(command: string, name: string | undefined): Promise<string> {
    if (this.stopping) throw new CliError('the cluster is stopping');
    if (command === 'status') return this.status();
    if (name === undefined) throw new CliError(`${command} needs a member: ${this.names.join(', ')}`, 2);
    const slot = this.slot(name);
    switch (command) {
      case 'stop':
        return this.stopOne(slot);
      case 'start':
        return this.startOne(slot);
      case 'restart':
        await this.stopOne(slot);
        return this.startOne(slot);
      default:
        throw new CliError(`unknown command '${command}' (status, stop, start, restart)`, 2);
    }
  }

  status(): string {
    return this.slots
      .map((s) => {
        const p = s.process;
        const state = p?.running
          ? `running, pid ${p.pid}`
          : s.restartAtMs !== undefined
            ? `restarting in ${Math.max(0, Math.ceil((s.restartAtMs - Date.now()) / 1000))} s`
            : s.wanted
              ? 'starting'
              : 'stopped';
        const restarts = s.restarts > 0 ? `, restarted ${s.restarts} time${s.restarts === 1 ? '' : 's'}` : '';
        return `${s.spec.name.padEnd(12)} 127.0.0.1:${s.spec.port}  ${state}${restarts}`;
      })
      .join('\n');
  }

  private slot(name: string): Slot {
    const wanted = /^\d+$/.test(name) ? `broker-${name}` : name;
    const slot = this.slots.find((s) => s.spec.name === wanted);
    if (!slot) throw new CliError(`no member '${name}' (members: ${this.names.join(', ')})`, 2);
    return slot;
  }

  private launch(slot: Slot): [Slot, MemberProcess] {
    const process = new MemberProcess(slot.spec, this.print);
    slot.process = process;
    slot.restartAtMs = undefined;
    void process.exited.then(({ code, signal }) => this.onExit(slot, process, code, signal));
    return [slot, process];
  }

  private async waitReady(slot: Slot, process: MemberProcess): Promise<string> {
    const { name, port } = slot.spec;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let why: string | undefined;
    for (;;) {
      if (!process.running) {
        const { code, signal } = await process.exited;
        const reason = process.lastError ? `: ${process.lastError}` : ' (see its log above)';
        throw new CliError(`${name} exited (${exitText(code, signal)}) before it was ready${reason}`);
      }
      const answer = await slot.spec.probe().catch((err: unknown) => ({ ready: false as const, why: String(err) }));
      if (answer.ready) return `${name} (pid ${process.pid}) answered as ${answer.as}`;
      why = answer.why ?? why;
      if (Date.now() > deadline) {
        process.signal('SIGKILL');
        const detail = why ? ` (${why})` : '';
        throw new CliError(
          `${name} did not answer as itself on port ${port} within ${READY_TIMEOUT_MS / 1000} s${detail}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
    }
  }

  private onExit(slot: Slot, process: MemberProcess, code: number | null, signal: NodeJS.Signals | null): void {
    this.print(`[${slot.spec.name}] exited (${exitText(code, signal)})`);
    if (slot.process !== process || !this.started || this.stopping || !slot.wanted) return;
    if (Date.now() - process.startedAtMs > STABLE_RUN_MS) slot.failures = 0;
    const delay = restartDelayMs(slot.failures);
    slot.failures++;
    slot.restarts++;
    slot.restartAtMs = Date.now() + delay;
    const name = slot.spec.name;
    this.print(
      `[${name}] restarting it in ${delay / 1000} s (restart ${slot.restarts}; 'samsa dev stop ${name}' keeps it down)`,
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.stopping || !slot.wanted) return;
      const [, next] = this.launch(slot);
      this.waitReady(slot, next).then(
        (answer) => this.print(`[${slot.spec.name}] is back: ${answer}`),
        (err: unknown) => {
          // An exit was reported (and a restart scheduled) by onExit; a member that never answered is killed.
          if (next.running) this.print(`[${slot.spec.name}] ${err instanceof Error ? err.message : String(err)}`);
          next.signal('SIGKILL');
        },
      );
    }, delay);
  }

  private cancelRestart(slot: Slot): void {
    clearTimeout(slot.restartTimer);
    slot.restartTimer = undefined;
    slot.restartAtMs = undefined;
  }

  private async stopOne(slot: Slot): Promise<string> {
    slot.wanted = false;
    this.cancelRestart(slot);
    const pid = slot.process?.pid;
    if (!slot.process?.running) return `${slot.spec.name} is not running`;
    await stopProcess(slot.process);
    return `stopped ${slot.spec.name} (was pid ${pid}); it stays down until 'samsa dev start ${slot.spec.name}'`;
  }

  private async startOne(slot: Slot): Promise<string> {
    if (slot.process?.running) return `${slot.spec.name} is already running (pid ${slot.process.pid})`;
    slot.wanted = true;
    slot.failures = 0;
    this.cancelRestart(slot);
    const [, process] = this.launch(slot);
    return `started ${await this.waitReady(slot, process)}`;
  }
}

/** SIGTERM, then SIGKILL after the grace period; resolves once it has exited. */
async function stopProcess(process: MemberProcess | undefined): Promise<void> {
  if (!process?.running) return;
  process.signal('SIGTERM');
  const killer = setTimeout(() => process.signal('SIGKILL'), STOP_GRACE_MS);
  await process.exited;
  clearTimeout(killer);
}
