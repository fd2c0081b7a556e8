import { createServer } from 'node:net';

/**
 * Ports this process has handed out. The OS may give a port just released to the next bind on port 0,
 * so two calls in a row (a broker's two listeners, say) could get the same one and the second process to
 * bind it fails (seen: "listeners PLAINTEXT and KAFKA both use port 33911").
 */
const handedOut = new Set<number>();
const ATTEMPTS = 20;

/**
 * A TCP port that was free a moment ago on `host`, and that no earlier call of this process returned.
 * The OS may hand it to someone else before the caller binds it; callers that can bind port 0 themselves
 * should do that instead.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = await boundAndReleased(host);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no port on ${host} that this process has not handed out already, in ${ATTEMPTS} tries`);
}

function boundAndReleased(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the bound port'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
