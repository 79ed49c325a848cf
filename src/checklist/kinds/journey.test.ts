import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../util/net.js';
import { journeyCheck, type JourneyParams } from './journey.js';
import { startApp, startProxy } from '../../../test/support/test-apps.js';
import { testContext } from '../../../test/support/check-context.js';

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * A tiny shop: log in for a token, open a cart with it, add an item (the cart id must arrive as a
 * number), read the cart back. `brokenCart` makes adding items fail; `version` tags every answer.
 */
function shop(version: string, options: { brokenCart?: boolean } = {}) {
  const items: string[] = [];
  return (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body =
        chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : {};
      const route = `${req.method} ${req.url}`;
      if (route === 'POST /login') {
        return sendJson(res, 200, { token: `t-${String(body.user)}`, version }, { 'x-session': 'sess-1' });
      }
      if (route === 'GET /hang') return;
      if (req.headers.authorization !== 'Bearer t-ada' || req.headers['x-session'] !== 'sess-1') {
        return sendJson(res, 401, { error: 'not logged in' });
      }
      if (route === 'POST /carts') return sendJson(res, 201, { cart: { id: 7 }, version });
      if (route === 'POST /carts/7/items') {
        if (options.brokenCart) return sendJson(res, 500, { error: 'inventory unavailable' });
        if (body.cartId !== 7) return sendJson(res, 400, { error: `cartId must be the number 7` });
        items.push(String(body.sku));
        return sendJson(res, 201, { count: items.length });
      }
      if (route === 'GET /carts/7') return sendJson(res, 200, { items, version });
      sendJson(res, 404, { error: `no route ${route}` });
    });
  };
}

function shopJourney(base: string, extra: Partial<Record<string, unknown>> = {}): Record<string, unknown> {
  const auth = { Authorization: 'Bearer {{token}}', 'X-Session': '{{session}}' };
  return {
    steps: [
      {
        name: 'log in',
        method: 'POST',
        url: `${base}/login`,
        json: { user: 'ada' },
        capture: { token: '$.token', session: 'header:X-Session' },
      },
      {
        name: 'open cart',
        method: 'POST',
        url: `${base}/carts`,
        headers: auth,
        expectStatus: 201,
        capture: { cartId: '$.cart.id' },
      },
      {
        name: 'add to cart',
        method: 'POST',
        url: `${base}/carts/{{cartId}}/items`,
        headers: auth,
        json: { sku: 'book-{{cartId}}', cartId: '{{cartId}}' },
        expectStatus: 201,
      },
      {
        name: 'see cart',
        method: 'GET',
        url: `${base}/carts/{{cartId}}`,
        headers: auth,
        expectJson: [{ path: '$.items[0]', equals: 'book-7' }],
      },
    ],
    ...extra,
  };
}

async function run(input: Record<string, unknown>, context = testContext()) {
  const params: JourneyParams = journeyCheck.params.parse(input);
  return journeyCheck.run(params, context);
}

describe('journey params', () => {
  it('fills defaults', () => {
    expect(journeyCheck.params.parse({ steps: [{ url: '/' }] })).toEqual({
      steps: [{ method: 'GET', url: '/', headers: {}, capture: {} }],
      timeout: 10_000,
    });
  });

  it('rejects a variable no earlier step captures', () => {
    const result = journeyCheck.params.safeParse({
      steps: [{ url: '/a/{{id}}', capture: { id: '$.id' } }],
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('{{id}} is not captured by an earlier step');
  });

  it('rejects body with json, bad capture sources, and absolute urls with a target', () => {
    expect(journeyCheck.params.safeParse({ steps: [{ url: '/', body: 'a', json: {} }] }).success).toBe(false);
    expect(journeyCheck.params.safeParse({ steps: [{ url: '/', capture: { x: 'id' } }] }).success).toBe(
      false,
    );
    expect(journeyCheck.params.safeParse({ steps: [{ url: '/', capture: { 'a-b': '$.id' } }] }).success).toBe(
      false,
    );
    expect(
      journeyCheck.params.safeParse({ steps: [{ url: 'http://a.example/' }], target: 'canary' }).success,
    ).toBe(false);
  });
});

describe('journey check', () => {
  it('runs every step, passing captured values along', async () => {
    const base = await startApp(shop('v1'));
    const result = await run(shopJourney(base));
    expect(result.ok, result.summary).toBe(true);
    expect(result.summary).toMatch(/^4 steps passed in \d+ms$/);
    expect(result.data?.captured).toEqual(['token', 'session', 'cartId']);
    expect(result.data?.steps).toMatchObject([
      { step: 1, name: 'log in', outcome: 'passed', status: 200, latencyMs: expect.any(Number) },
      { step: 2, name: 'open cart', outcome: 'passed', status: 201 },
      { step: 3, name: 'add to cart', outcome: 'passed', status: 201, url: `${base}/carts/7/items` },
      { step: 4, name: 'see cart', outcome: 'passed', status: 200 },
    ]);
    expect(JSON.parse(result.output!)).toEqual({ items: ['book-7'], version: 'v1' });
  });

  it('stops at the first failing step and names it', async () => {
    const base = await startApp(shop('v1', { brokenCart: true }));
    const result = await run(shopJourney(base));
    expect(result).toMatchObject({ ok: false, summary: 'step 3 "add to cart": expected 201, got 500' });
    expect(result.output).toContain('inventory unavailable');
    expect(result.data?.steps).toMatchObject([
      { outcome: 'passed' },
      { outcome: 'passed' },
      { outcome: 'failed', status: 500 },
      { outcome: 'not-run' },
    ]);
  });

  it('fails a step whose capture finds nothing', async () => {
    const base = await startApp(shop('v1'));
    const result = await run({
      steps: [
        { method: 'POST', url: `${base}/login`, json: { user: 'ada' }, capture: { id: '$.user.id' } },
        { url: `${base}/users/{{id}}` },
      ],
    });
    expect(result.summary).toBe(
      `step 1 (POST ${base}/login): capture id: $.user.id is missing from the 200 response`,
    );
    const noHeader = await run({
      steps: [
        { name: 'log in', method: 'POST', url: `${base}/login`, json: {}, capture: { s: 'header:X-Nope' } },
      ],
    });
    expect(noHeader.summary).toBe('step 1 "log in": capture s: no X-Nope header in the 200 response');
  });

  it('fails with the connect error or the timeout of the whole journey', async () => {
    const base = await startApp(shop('v1'));
    const port = await freePort();
    const refused = await run({ steps: [{ name: 'home', url: `http://127.0.0.1:${port}/` }] });
    expect(refused.summary).toBe(
      `step 1 "home": GET http://127.0.0.1:${port}/: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    const slow = await run({
      steps: [
        { name: 'log in', method: 'POST', url: `${base}/login` },
        { name: 'wait', url: `${base}/hang` },
      ],
      timeout: '200ms',
    });
    expect(slow.summary).toBe(`step 2 "wait": GET ${base}/hang: journey not finished within 200ms`);
  });

  it('sends every step to the canary with target: canary, even at weight 0', async () => {
    const stable = await startApp(shop('v1'));
    const canary = await startApp(shop('v2'));
    const context = testContext(await startProxy(stable, canary));

    const journey = shopJourney('', { target: 'canary' });
    const steps = journey.steps as Record<string, unknown>[];
    steps[3]!.expectJson = [{ path: '$.version', equals: 'v2' }];
    const result = await run(journey, context);
    expect(result.ok, result.summary).toBe(true);
    expect(result.summary).toMatch(/^4 steps passed on canary in \d+ms$/);
  });
});
