import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { cleanUpAfterEach, send, startProxy, startUpstream } from '../../../../test/support/proxy.js';
import { InputError } from '../../../errors.js';
import { RequestMetrics } from '../../metrics/builtin/request-metrics.js';
import { FORCE_TOKEN_HEADER, ProxyRouter, SERVED_BY_HEADER, VERSION_HEADER } from './proxy-router.js';

const SERVED_BY = SERVED_BY_HEADER.toLowerCase();
const HOUR_MS = 3_600_000;
const FORCE_TOKEN = 'a-test-force-token-0123456789';

cleanUpAfterEach();

/** Two echoing versions behind a proxy at weight 0, with metrics; `options` add to the proxy's options. */
async function twoVersions(options: { forceToken?: string; forceFrom?: string[] } = {}) {
  const stable = await startUpstream('stable');
  const canary = await startUpstream('canary');
  const metrics = new RequestMetrics();
  const proxy = await startProxy(
    new Map([
      ['v1', [stable.address]],
      ['v2', [canary.address]],
    ]),
    metrics,
    options,
  );
  await proxy.router.setRoute({ stable: 'v1', canary: 'v2', weight: 0 });
  return { ...proxy, metrics };
}

/** The request headers the upstream saw, from its /echo answer. */
function seenHeaders(body: string): http.IncomingHttpHeaders {
  return (JSON.parse(body) as { headers: http.IncomingHttpHeaders }).headers;
}

describe('ProxyRouter: who may force a version', () => {
  it('routes by weight, strips the header and counts in analysis when the request shows no token', async () => {
    const { agent, address, metrics } = await twoVersions({ forceToken: FORCE_TOKEN });

    // Given a client that asks for the canary without the token
    const reply = await send(agent, address, { path: '/echo', headers: { [VERSION_HEADER]: 'canary' } });

    // Then the weight (0) decides, the upstream never sees the header, and the request is an ordinary one
    expect(reply.headers[SERVED_BY]).toBe('v1');
    expect(seenHeaders(reply.body)[VERSION_HEADER.toLowerCase()]).toBeUndefined();
    expect(metrics.window('v1', HOUR_MS).requests).toBe(1);
    expect(metrics.forcedWindow('v1', HOUR_MS).requests).toBe(0);
    expect(metrics.forcedWindow('v2', HOUR_MS).requests).toBe(0);
  });

  it('ignores a wrong token, and every token when none is configured', async () => {
    const configured = await twoVersions({ forceToken: FORCE_TOKEN });
    const wrong = await send(configured.agent, configured.address, {
      headers: { [VERSION_HEADER]: 'canary', [FORCE_TOKEN_HEADER]: `${FORCE_TOKEN}x` },
    });
    expect(wrong.headers[SERVED_BY]).toBe('v1');

    const unconfigured = await twoVersions();
    const any = await send(unconfigured.agent, unconfigured.address, {
      headers: { [VERSION_HEADER]: 'canary', [FORCE_TOKEN_HEADER]: '' },
    });
    expect(any.headers[SERVED_BY]).toBe('v1');
  });

  it('forces the version with the token, never forwards the token, and keeps the request out of analysis', async () => {
    const { router, agent, address, metrics } = await twoVersions({ forceToken: FORCE_TOKEN });

    const reply = await send(agent, address, { path: '/echo', headers: router.forceHeaders('canary') });

    expect(reply.headers[SERVED_BY]).toBe('v2');
    const seen = seenHeaders(reply.body);
    expect(seen[VERSION_HEADER.toLowerCase()]).toBe('canary');
    expect(seen[FORCE_TOKEN_HEADER.toLowerCase()]).toBeUndefined();
    expect(metrics.window('v2', HOUR_MS).requests).toBe(0);
    expect(metrics.forcedWindow('v2', HOUR_MS)).toMatchObject({ requests: 1, byClass: { '2xx': 1 } });
  });

  it('forces the version for a request from a forceFrom address, without the token', async () => {
    const { agent, address, metrics } = await twoVersions({ forceFrom: ['10.0.0.0/8', '127.0.0.0/8'] });

    const reply = await send(agent, address, { headers: { [VERSION_HEADER]: 'canary' } });

    expect(reply.headers[SERVED_BY]).toBe('v2');
    expect(metrics.window('v2', HOUR_MS).requests).toBe(0);
    expect(metrics.forcedWindow('v2', HOUR_MS).requests).toBe(1);
  });

  it('does not force from an address off the forceFrom list', async () => {
    const { agent, address } = await twoVersions({ forceFrom: ['10.0.0.0/8', '::1'] });
    const reply = await send(agent, address, { headers: { [VERSION_HEADER]: 'canary' } });
    expect(reply.headers[SERVED_BY]).toBe('v1');
  });

  it('counts the synthetic load in analysis: it is forced on purpose to feed the verdict', async () => {
    const { router, agent, address, metrics } = await twoVersions({ forceToken: FORCE_TOKEN });

    const reply = await send(agent, address, {
      headers: { ...router.forceHeaders('canary'), 'X-Shipcheck-Synthetic': '1' },
    });

    expect(reply.headers[SERVED_BY]).toBe('v2');
    expect(metrics.window('v2', HOUR_MS).requests).toBe(1);
    expect(metrics.forcedWindow('v2', HOUR_MS).requests).toBe(0);
  });

  it('refuses a forceFrom entry that is not an address or range', () => {
    expect(
      () => new ProxyRouter({ listen: '127.0.0.1:0', upstreams: () => [], forceFrom: ['10.0.0.0/33'] }),
    ).toThrow(InputError);
  });
});
