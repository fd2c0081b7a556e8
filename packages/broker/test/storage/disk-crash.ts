import fs from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { basename, join } from 'node:path';
import { openPartitionLog, type PartitionLog, type PartitionLogOptions } from '@samsa/broker/internal';
import { tempDir } from './helpers.js';

const require = createRequire(import.meta.url);
const fsp = require('node:fs/promises') as Record<string, unknown>;
const fsSync = fs as unknown as Record<string, unknown>;

type AnyFn = (this: unknown, ...args: unknown[]) => unknown;

/** Calls that change what a process crash leaves on disk (fsyncs only matter for a power loss). */
const MUTATING = ['rename', 'unlink', 'rmdir', 'writeFile', 'appendFile', 'truncate', 'copyFile', 'mkdir'];
const MUTATING_HANDLE = ['write', 'writev', 'writeFile', 'appendFile', 'truncate'];
const SYNCS = ['sync', 'datasync'];

/**
 * A disk that "crashes the process" at its Nth change: the Nth call that changes the directory or a
 * file (an open that creates or truncates, a write, truncate, rename, unlink, appendFileSync; a
 * recursive rm is one unlink per file and one rmdir per directory) and every
 * later change or fsync never return, so the files stay exactly as a SIGKILL at that moment would
 * leave them, whatever the code under test still tries. Patches node:fs/promises (and the ESM
 * bindings, syncBuiltinESMExports), FileHandle's prototype and fs.appendFileSync while installed.
 */
export class DiskCrash {
  /** The changes made so far in this run, as `call name`, for messages. */
  readonly steps: string[] = [];
  /** The changes and the fsyncs in order, as `call name` (an fsync names the file or directory). */
  readonly events: string[] = [];
  private readonly handlePaths = new WeakMap<object, string>();
  /** Files opened since the last closeLeftovers(): what a crash leaves open is closed there, not by the GC. */
  private readonly opened = new Set<fs.promises.FileHandle>();
  private crashAt = Number.POSITIVE_INFINITY;
  crashed = false;
  private crashedSignal!: () => void;
  /** Resolves when the crash happens. */
  crash: Promise<void> = new Promise((resolve) => (this.crashedSignal = resolve));
  private readonly restores: Array<() => void> = [];

  /** From now on the `n`th change (1-based) crashes; counting starts again. */
  arm(n: number): void {
    this.steps.length = 0;
    this.events.length = 0;
    this.crashAt = n;
    this.crashed = false;
    this.crash = new Promise((resolve) => (this.crashedSignal = resolve));
  }

  /** Every change and fsync from now on hangs, as after the crash (what is left of the old process). */
  freeze(): void {
    this.crashed = true;
  }

  /** Closes every file the crashed process left open (the kernel would); call before reopening. */
  async closeLeftovers(): Promise<void> {
    for (const handle of this.opened) await handle.close().catch(() => {});
    this.opened.clear();
  }

  /** Changes go through again (the "restarted" process); calls stuck at the crash stay stuck. */
  disarm(): void {
    this.crashAt = Number.POSITIVE_INFINITY;
    this.crashed = false;
  }

  /** Whether this call may go on; a crashed disk never answers. */
  private gate(name: string, path: unknown, mutating: boolean): Promise<never> | undefined {
    if (this.crashed) return new Promise<never>(() => {});
    if (!mutating) return undefined;
    const step = `${name} ${typeof path === 'string' ? basename(path) : ''}`.trim();
    this.steps.push(step);
    this.events.push(step);
    if (this.steps.length < this.crashAt) return undefined;
    this.crashed = true;
    this.crashedSignal();
    return new Promise<never>(() => {});
  }

  async install(scratchDir: string): Promise<void> {
    for (const name of [...MUTATING, 'open']) {
      const real = fsp[name] as AnyFn;
      fsp[name] = (...args: unknown[]) => {
        const flags = name === 'open' ? String(args[1] ?? 'r') : '';
        const mutating = name !== 'open' || /[wax]/.test(flags);
        const gated = this.gate(name, args[0], mutating);
        if (gated) return gated;
        const result = real.apply(fsp, args);
        if (name !== 'open') return result;
        return (result as Promise<fs.promises.FileHandle>).then((handle) => {
          this.handlePaths.set(handle, String(args[0]));
          this.opened.add(handle);
          return handle;
        });
      };
      this.restores.push(() => (fsp[name] = real));
    }
    // A recursive rm is many changes, one file at a time, as the kernel sees it: a crash can stop it half way.
    const realRm = fsp.rm as AnyFn;
    const rm = async (path: string, options?: { recursive?: boolean; force?: boolean }): Promise<void> => {
      if (!options?.recursive) return (this.gate('rm', path, true) ?? realRm(path, options)) as Promise<void>;
      const info = await fs.promises.lstat(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' && options.force) return undefined;
        throw err;
      });
      if (info === undefined) return;
      if (!info.isDirectory()) return (fsp.unlink as AnyFn)(path) as Promise<void>;
      for (const name of await fs.promises.readdir(path)) await rm(join(path, name), options);
      return (fsp.rmdir as AnyFn)(path) as Promise<void>;
    };
    fsp.rm = rm;
    this.restores.push(() => (fsp.rm = realRm));
    const realAppendSync = fsSync.appendFileSync as AnyFn;
    fsSync.appendFileSync = (...args: unknown[]) => {
      if (this.crashed || this.steps.length + 1 >= this.crashAt) {
        // A synchronous call cannot hang: the crash is an exception nobody catches for long.
        void this.gate('appendFileSync', args[0], true);
        throw new Error('simulated crash');
      }
      this.steps.push(`appendFileSync ${basename(String(args[0]))}`);
      this.events.push(`appendFileSync ${basename(String(args[0]))}`);
      return realAppendSync.apply(fs, args);
    };
    this.restores.push(() => (fsSync.appendFileSync = realAppendSync));
    syncBuiltinESMExports();
    const probe = await (fsp.open as (p: string, f: string) => Promise<fs.promises.FileHandle>)(
      `${scratchDir}/probe`,
      'w',
    );
    const proto = Object.getPrototypeOf(probe) as Record<string, AnyFn>;
    await probe.close();
    for (const name of [...MUTATING_HANDLE, ...SYNCS]) {
      const real = proto[name]!;
      const gate = (handle: unknown): Promise<never> | undefined => {
        const path = this.handlePaths.get(handle as object);
        if (!SYNCS.includes(name)) return this.gate(name, path, true);
        if (!this.crashed) this.events.push(`${name} ${path === undefined ? '?' : basename(path)}`);
        return this.gate(name, path, false);
      };
      proto[name] = function (this: unknown, ...args: unknown[]) {
        return gate(this) ?? real.apply(this, args);
      };
      this.restores.push(() => (proto[name] = real));
    }
  }

  uninstall(): void {
    for (const restore of this.restores.splice(0).reverse()) restore();
    syncBuiltinESMExports();
  }
}

export interface CrashRun {
  /** 1-based: the change that crashed. */
  readonly step: number;
  /** The changes made before it, and the one that crashed, for messages. */
  readonly steps: readonly string[];
  /** The reopened log (closed by the caller of crashAtEveryStep). */
  readonly log: PartitionLog;
  readonly dir: string;
}

/**
 * For n = 1, 2, ...: builds a log with `setup`, runs `operation` on it with the disk crashing at
 * its nth change, reopens the directory as after a SIGKILL and hands it to `check`; stops after the
 * first n at which the operation finished without reaching its nth change. Returns how many changes
 * the operation made.
 */
export async function crashAtEveryStep(options: {
  readonly disk: DiskCrash;
  readonly open?: Omit<PartitionLogOptions, 'dir'>;
  readonly setup: (log: PartitionLog) => Promise<void>;
  readonly operation: (log: PartitionLog) => Promise<unknown>;
  readonly check: (run: CrashRun) => Promise<void>;
  /** Safety net against an operation that never finishes (default 200 changes). */
  readonly maxSteps?: number;
}): Promise<number> {
  const { disk } = options;
  for (let step = 1; step <= (options.maxSteps ?? 200); step++) {
    const dir = await tempDir('samsa-crash-steps-');
    try {
      const log = await openPartitionLog({ ...options.open, dir: dir.path });
      await options.setup(log);
      // The setup's roll flushes are done: the operation's changes are all that is counted.
      if (log.state === 'online') await log.flush();
      disk.arm(step);
      const done = options.operation(log).then(
        () => 'done' as const,
        () => 'failed' as const,
      );
      const outcome = await Promise.race([done, disk.crash.then(() => 'crashed' as const)]);
      const steps = [...disk.steps];
      if (outcome === 'failed') throw new Error(`the operation failed without a crash (steps ${steps.join(', ')})`);
      disk.freeze();
      // Let whatever still runs reach its next change or fsync, where the crashed disk holds it.
      for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
      await log.abandon();
      await disk.closeLeftovers();
      disk.disarm();
      const reopened = await openPartitionLog({ ...options.open, dir: dir.path });
      try {
        await options.check({ step, steps, log: reopened, dir: dir.path });
      } finally {
        await reopened.close();
      }
      if (outcome === 'done') return step - 1;
    } finally {
      disk.disarm();
      await dir.remove();
    }
  }
  throw new Error(`the operation made more than ${options.maxSteps ?? 200} changes`);
}
