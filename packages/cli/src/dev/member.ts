/**
 * One supervised process of `samsa dev`: spawned with an IPC channel that it watches (it stops when the
 * channel closes, i.e. when the supervisor has died, however it died), its output interleaved on the
 * terminal one line each, and the last error it printed kept for the one-line report of a failure.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { prettyFactory } from 'pino-pretty';

const CLI_MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

export interface MemberSpec {
  /** 'coordinator' or 'broker-N'. */
  readonly name: string;
  readonly port: number;
  /** `samsa` arguments that start it. */
  readonly args: readonly string[];
  /** Why it does not answer as itself yet, or undefined once it does (what it answered as). */
  readonly probe: () => Promise<{ ready: false; why?: string } | { ready: true; as: string }>;
}

export function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `signal ${signal}` : `code ${code}`;
}

export class MemberProcess {
  readonly child: ChildProcess;
  readonly startedAtMs = Date.now();
  /** The last error line it printed (a fatal log line or a `samsa: ...` line). */
  lastError: string | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly spec: MemberSpec,
    print: (line: string) => void,
  ) {
    // Its own process group: a Ctrl-C on the terminal reaches only the supervisor, which stops the
    // members in order (brokers first) instead of every process receiving the signal at once.
    this.child = spawn(process.execPath, [CLI_MAIN, ...spec.args], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true,
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
      this.child.once('error', (err) => {
        this.lastError = err.message;
        resolve({ code: null, signal: null });
      });
    });
    const pretty = prettyFactory({
      colorize: process.stdout.isTTY,
      singleLine: true,
      translateTime: 'HH:MM:ss.l',
      ignore: 'pid,hostname',
      messageFormat: `[${spec.name}] {msg}`,
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.noteError(line);
        // Members log pino JSON; anything else (a crash report) is passed through as it is.
        print(line.startsWith('{') ? pretty(line).trimEnd() : `[${spec.name}] ${line}`);
      });
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  private noteError(line: string): void {
    if (line.startsWith('samsa: ')) {
      this.lastError = line.slice('samsa: '.length);
      return;
    }
    if (!line.startsWith('{')) return;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
      if ((entry.level ?? 0) >= 50) this.lastError = [entry.msg, entry.err?.message].filter(Boolean).join(': ');
    } catch {
      // Not JSON after all: nothing to note.
    }
  }
}
