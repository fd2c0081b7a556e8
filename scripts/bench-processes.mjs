// What the benchmark scripts share for the processes they start: a free loopback port, and waiting
// until a started process listens on its port (failing at once if it exits first).
import { connect, createServer } from 'node:net';

/** A port free on 127.0.0.1 now (the OS picks it; a process started next binds it). */
export function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once 127.0.0.1:`port` accepts a connection; throws if `child` exits or after 30 s. */
export async function waitForPort(port, child, name = child.spawnargs.join(' ')) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode}`);
    const ok = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not listen on ${port}`);
}
