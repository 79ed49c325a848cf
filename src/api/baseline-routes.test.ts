import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorized, createAdminToken, createFirstAdmin } from '../../test/support/auth.js';
import type { BaselineFigures } from '../baseline/compare.js';
import { loadConfig } from '../config/loader.js';
import { type ControlPlane, startControlPlane } from '../control-plane.js';

const NOW = Date.parse('2026-12-06T10:00:00Z');
const FIGURES: BaselineFigures = {
  requests: 1200,
  windowMs: 30_000,
  instances: 2,
  p50: 20,
  p95: 40,
  p99: 50,
  rps: 40,
  errorRate: 0,
  cpuPer1k: 0.4,
  rssBytes: 80 * 1024 * 1024,
  rssPer1k: 1000,
  resourcesReason: null,
};

describe('the baselines routes', () => {
  let dir: string;
  let plane: ControlPlane;
  let token: string;
  const get = (route: string): Promise<Response> =>
    fetch(`${plane.apiUrl}/api/v1${route}`, { headers: authorized(token) });
  const body = async (route: string, status: number): Promise<Record<string, unknown>> => {
    const res = await get(route);
    const json = (await res.json()) as Record<string, unknown>;
    expect(res.status, JSON.stringify(json)).toBe(status);
    return json;
  };

  beforeAll(async () => {
    // Given a service with the baselines of two releases, the second 40% slower at p99
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-baseline-routes-'));
    fs.writeFileSync(
      path.join(dir, 'shipcheck.yaml'),
      `service: web
server: { listen: 127.0.0.1:0 }
fleet: { kind: local, command: ["${process.execPath}", "-e", "0"], instances: 1 }
traffic: { kind: proxy, listen: 127.0.0.1:0 }
`,
    );
    plane = await startControlPlane(
      await loadConfig(path.join(dir, 'shipcheck.yaml')),
      pino({ level: 'silent' }),
    );
    token = await createAdminToken(
      plane.apiUrl,
      await createFirstAdmin(plane.apiUrl, plane.setupCode!, 'ana'),
    );
    const { baselines } = plane.store;
    for (const [releaseId, version, p99] of [
      [1, 'v1', 50],
      [2, 'v2', 70],
    ] as const) {
      await baselines.open({ releaseId, service: 'web', version, startedAt: NOW, resourcesStart: {} }, NOW);
      await baselines.finish(
        releaseId,
        { state: 'complete', endedAt: NOW, figures: { ...FIGURES, p99 }, reason: null },
        NOW,
      );
    }
  });

  afterAll(async () => {
    await plane.close({ stopInstances: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("lists a unit's baselines, newest first, each with its verdict against the one before", async () => {
    const answer = await body('/services/web/baselines', 200);
    expect(answer.unit).toBe('web');
    const list = answer.baselines as {
      version: string;
      verdict: string | null;
      reasonOfVerdict: string | null;
    }[];
    expect(list.map((b) => [b.version, b.verdict])).toEqual([
      ['v2', 'regressed'],
      ['v1', null],
    ]);
    expect(list[0]?.reasonOfVerdict).toBe('p99 latency 50 ms -> 70 ms (+40.0%, tolerance +20.0%)');
  });

  it('compares two baselines named by version or release id', async () => {
    const answer = await body('/services/web/baselines/compare?a=1&b=v2', 200);
    expect(answer.comparison).toMatchObject({ verdict: 'regressed', comparable: true });
  });

  it('answers 400 for bad input and 404 for what does not exist, with a message', async () => {
    expect((await body('/services/web/baselines/compare?a=v1', 400)).error).toMatch(
      /compare takes two baselines/,
    );
    expect((await body('/services/web/baselines?environment=Bad_Name', 400)).error).toMatch(
      /not an environment name/,
    );
    expect((await body('/services/web/baselines/compare?a=v1&b=v9', 404)).error).toBe(
      'no baseline of web for "v9"; recorded: v2 (#2), v1 (#1)',
    );
    expect((await body('/services/nope/baselines', 404)).error).toMatch(/unknown service "nope"/);
    expect((await body('/releases/99/baseline', 404)).error).toBe('release 99 not found');
  });
});
