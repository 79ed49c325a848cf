import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';
import type { CheckContext } from '../../src/checklist/types.js';
import { ProxyRouter, randomForceToken } from '../../src/providers/traffic/proxy/proxy-router.js';

/** Starts an app on a free port for the current test, closed when it ends; returns its base URL. */
export async function startApp(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * The built-in proxy in front of two apps, v1 stable and v2 canary at weight 0, with a force token,
 * for the current test; returns what a CheckContext needs of it: its base URL (what checks with
 * `target: canary|stable` go through) and the headers that force a version.
 */
export async function startProxy(
  stableUrl: string,
  canaryUrl: string,
): Promise<Required<Pick<CheckContext, 'proxyUrl' | 'proxyForceHeaders'>>> {
  const addresses: Record<string, string> = { v1: new URL(stableUrl).host, v2: new URL(canaryUrl).host };
  const router = new ProxyRouter({
    listen: '127.0.0.1:0',
    upstreams: (version) => (addresses[version] === undefined ? [] : [addresses[version]]),
    forceToken: randomForceToken(),
  });
  await router.start();
  onTestFinished(() => router.close());
  await router.setRoute({ stable: 'v1', canary: 'v2', weight: 0 });
  return {
    proxyUrl: `http://${router.address()}`,
    proxyForceHeaders: (target) => router.forceHeaders(target),
  };
}
