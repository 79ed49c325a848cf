import net from 'node:net';

/** A `host:port` split into parts; a bare port binds to 127.0.0.1. */
export interface HostPort {
  host: string;
  port: number;
}

/** Parses `host:port`, `:port` or `port` (host defaults to 127.0.0.1). */
export function parseHostPort(address: string): HostPort {
  const colon = address.lastIndexOf(':');
  const host = colon > 0 ? address.slice(0, colon).replace(/^\[|\]$/g, '') : '127.0.0.1';
  const port = Number(colon >= 0 ? address.slice(colon + 1) : address);
  return { host: host || '127.0.0.1', port };
}

/** Asks the OS for a port that is free right now on `host`. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
