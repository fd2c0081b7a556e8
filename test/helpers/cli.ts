/** Runs the `samsa` command as a user would: a child process, its exit code and both outputs. */
import { spawn } from 'node:child_process';
import { CLI_MAIN } from './cluster.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `samsa <args>` with `stdin` as its standard input (and extra environment variables); resolves when it exits. */
export function runSamsa(args: string[], stdin = '', env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    // A command that fails before reading its input closes the pipe: not the test's error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}
