/**
 * The control channel of a running `samsa dev` (as supervisorctl talks to supervisord): a Unix socket
 * named after the data directory, one JSON line asked and one answered. `samsa dev stop broker-2`
 * in another terminal reaches the `samsa dev` that keeps that data directory.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CliError } from '../errors.js';

interface Request {
  readonly command: string;
  readonly member?: string;
}

interface Reply {
  readonly ok: boolean;
  readonly message: string;
  readonly exitCode?: number;
}

/** Under the temp directory, not the data directory: a socket path is limited to about 100 bytes. */
export function controlSocketPath(dataDir: string): string {
  const digest = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  return join(tmpdir(), `samsa-dev-${digest}.sock`);
}

/** Answers control requests with `handle` until closed. */
export function serveControl(
  dataDir: string,
  handle: (command: string, member: string | undefined) => Promise<string>,
): Promise<Server> {
  const path = controlSocketPath(dataDir);
  // Only one samsa dev holds a data directory (its pid file says so): a socket left here is stale.
  rmSync(path, { force: true });
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    createInterface({ input: socket }).once('line', (line) => {
      let request: Request;
      try {
        request = JSON.parse(line) as Request;
      } catch {
        socket.end(`${JSON.stringify({ ok: false, message: 'bad request' })}\n`);
        return;
      }
      handle(request.command, request.member).then(
        (message) => socket.end(`${JSON.stringify({ ok: true, message } satisfies Reply)}\n`),
        (err: unknown) =>
          socket.end(
            `${JSON.stringify({
              ok: false,
              message: err instanceof Error ? err.message : String(err),
              ...(err instanceof CliError ? { exitCode: err.exitCode } : {}),
            } satisfies Reply)}\n`,
          ),
      );
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Sends one request to the samsa dev of `dataDir`; resolves with its answer, throws its refusal. */
export function askControl(dataDir: string, command: string, member: string | undefined): Promise<string> {
  const path = controlSocketPath(dataDir);
  return new Promise((resolve, reject) => {
    const socket = connect(path, () => socket.write(`${JSON.stringify({ command, member } satisfies Request)}\n`));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')
        reject(new CliError(`no samsa dev is running with data directory ${dataDir}`));
      else reject(err);
    });
    createInterface({ input: socket }).once('line', (line) => {
      const reply = JSON.parse(line) as Reply;
      socket.end();
      if (reply.ok) resolve(reply.message);
      else reject(new CliError(reply.message, reply.exitCode ?? 1));
    });
  });
}

/**
 * Claims the data directory for this samsa dev (a pid file), refusing when another live one holds it;
 * returns the release. A pid file whose process is gone (a samsa dev that was killed) is taken over.
 */
export function claimDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'samsa-dev.pid');
  let holder: number | undefined;
  try {
    holder = Number(readFileSync(path, 'utf8').trim());
  } catch {
    holder = undefined;
  }
  if (holder !== undefined && Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
    throw new CliError(
      `data directory ${dataDir} is in use by samsa dev (pid ${holder}): ` +
        `stop that one first (Ctrl-C in its terminal, or kill ${holder})`,
    );
  }
  writeFileSync(path, `${process.pid}\n`);
  return () => {
    rmSync(path, { force: true });
    rmSync(controlSocketPath(dataDir), { force: true });
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
