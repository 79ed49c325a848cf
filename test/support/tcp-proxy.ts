import net from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a server, that a test can cut as a network would: `freeze()`
 * stops passing bytes either way without closing anything, so neither end learns that the other is
 * gone until its own timeouts say so.
 */
export class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  private frozen = false;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /** Listens on a free port and passes every connection on to `target`. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => proxy.join(client, net.connect(target.port, target.host)));
    return proxy;
  }

  /** From now on, no byte passes in either direction, and new connections hang too. */
  freeze(): void {
    this.frozen = true;
  }

  /** Ends every connection and stops listening. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private join(a: net.Socket, b: net.Socket): void {
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      this.sockets.add(from);
      from.on('data', (chunk: Buffer) => {
        if (!this.frozen) to.write(chunk);
      });
      from.on('error', () => to.destroy());
      from.on('close', () => {
        this.sockets.delete(from);
        if (!this.frozen) to.destroy();
      });
    }
  }
}
