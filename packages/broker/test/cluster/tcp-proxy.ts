/**
 * A TCP proxy in front of a server (the coordinator, a broker's listener), to cut a connection the
 * way a network partition does: `partition()` drops its connections and refuses new ones until
 * `heal()`.
 */
import { type Server, type Socket, createServer, connect } from 'node:net';

export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private cut = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** `targetPort` may be a function, asked at each connection: for a target that starts after the proxy. */
  static async start(targetHost: string, targetPort: number | (() => number)): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => {
      if (!proxy || proxy.cut) {
        client.destroy();
        return;
      }
      const upstream = connect({ host: targetHost, port: typeof targetPort === 'number' ? targetPort : targetPort() });
      for (const s of [client, upstream]) {
        proxy.sockets.add(s);
        s.on('close', () => proxy?.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no port');
    proxy = new TcpProxy(server, address.port);
    return proxy;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  partition(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  heal(): void {
    this.cut = false;
  }

  async close(): Promise<void> {
    this.partition();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
