import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../util/clock.js';
import { ProxyRouter } from '../../traffic/proxy/proxy-router.js';
import { runMetricSourceContract, TrafficApp, WINDOW_MS } from '../metric-source.case.js';
import { BuiltinMetricSource } from './builtin-metric-source.js';
import { RequestMetrics } from './request-metrics.js';

const MINUTE = 60_000;
const VERSION = 'v1';

describe('BuiltinMetricSource', () => {
  it('answers from the request metrics', async () => {
    const metrics = new RequestMetrics({ clock: new ManualClock() });
    metrics.record('v1', 503, 12);
    const source = new BuiltinMetricSource(metrics);
    expect(source.type).toBe('builtin');
    await expect(source.window('v1', MINUTE)).resolves.toMatchObject({ requests: 1, errors: 1 });
  });
});

describe('BuiltinMetricSource fed by the built-in proxy', () => {
  const metrics = new RequestMetrics();
  const source = new BuiltinMetricSource(metrics);
  let app: TrafficApp | undefined;
  let proxy: ProxyRouter | undefined;

  beforeAll(async () => {
    app = await TrafficApp.start();
    const address = app.address;
    proxy = new ProxyRouter({
      listen: '127.0.0.1:0',
      upstreams: (version) => (version === VERSION ? [address] : []),
      metrics,
    });
    await proxy.start();
    await proxy.setRoute({ stable: VERSION, canary: undefined, weight: 0 });
  });

  afterAll(async () => {
    await proxy?.close();
    await app?.close();
  });

  runMetricSourceContract('builtin', {
    harness: () => ({
      source,
      url: `http://${proxy!.address()}/`,
      version: VERSION,
      // The proxy records a request as it ends the response, before the client has read it.
      settle: async (requests) => {
        expect((await source.window(VERSION, WINDOW_MS)).requests).toBe(requests);
      },
    }),
    unreachable: { never: 'it reads the counts the proxy keeps in memory, so it always answers' },
  });
});
