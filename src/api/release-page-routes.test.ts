import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/e2e/harness.js';
import { authorized, createAdminToken, createFirstAdmin } from '../../test/support/auth.js';
import { QUIET_PERIOD_MS, SAMPLE_APP } from '../../test/support/fleet.js';
import { loadConfig } from '../config/loader.js';
import { type ControlPlane, startControlPlane } from '../control-plane.js';
import { SAMPLE_INTERVAL_MS } from '../engine/release-sampler.js';
import { ManualClock } from '../util/clock.js';
import { REPORT_CSP } from './release-page-routes.js';

/** One manual item at the verify gate, where the release waits: nothing is signed in these tests. */
const TEMPLATE = `name: page
items:
  - { id: verify/looked, section: Verify, title: Looked at it, kind: manual, gate: verify }
`;

interface SampleJson {
  at: number;
  stable: Record<string, unknown> | null;
  canary: Record<string, unknown> | null;
}

/** A stream of SSE messages over a real connection, kept as text. */
class StreamText {
  text = '';
  private readonly request: http.ClientRequest;
  constructor(url: string, token: string) {
    this.request = http.get(url, { agent: false, headers: authorized(token) }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (this.text += chunk));
    });
    this.request.on('error', () => undefined);
  }
  close(): void {
    this.request.destroy();
  }
}

describe("the release page's routes", () => {
  let dir: string;
  let plane: ControlPlane;
  let token: string;
  const clock = new ManualClock(Date.parse('2026-12-06T10:00:00Z'));
  const get = (route: string): Promise<Response> =>
    fetch(`${plane.apiUrl}/api/v1${route}`, { headers: authorized(token) });
  const samples = async (query = ''): Promise<SampleJson[]> => {
    const res = await get(`/releases/1/samples${query}`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { samples: SampleJson[] }).samples;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-release-page-'));
    fs.writeFileSync(path.join(dir, 'checklist.yaml'), TEMPLATE);
    fs.writeFileSync(
      path.join(dir, 'shipcheck.yaml'),
      `service: web
server: { listen: 127.0.0.1:0 }
fleet:
  kind: local
  command: ["${process.execPath}", "${SAMPLE_APP}"]
  instances: 1
  stopTimeout: 3s
  health: { path: /healthz, interval: 100ms, timeout: 500ms, unhealthyAfter: 2 }
traffic: { kind: proxy, listen: 127.0.0.1:0 }
strategy: { steps: [{ setWeight: 20 }, { pause: {} }], bakeTime: 0s }
checklist: { template: checklist.yaml }
`,
    );
    const loaded = await loadConfig(path.join(dir, 'shipcheck.yaml'));
    plane = await startControlPlane(loaded, pino({ level: 'silent' }), { clock, tickMs: 50 });
    token = await createAdminToken(
      plane.apiUrl,
      await createFirstAdmin(plane.apiUrl, plane.setupCode!, 'ana'),
    );
    // Given the first release, of v2, waiting at its verify gate with its instance running.
    const res = await fetch(`${plane.apiUrl}/api/v1/services/web/releases`, {
      method: 'POST',
      headers: authorized(token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ version: 'v2' }),
    });
    expect(res.status).toBe(201);
    await waitFor('the release waits at its verify gate', async () => {
      const release = (await (await get('/releases/1')).json()) as { state: string; phase: string };
      return release.phase === 'verify' && release.state === 'waiting';
    });
  });

  afterAll(async () => {
    await plane.close({ stopInstances: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shows the plan, every step as written', async () => {
    const release = (await (await get('/releases/1')).json()) as Record<string, unknown>;
    expect(release).toMatchObject({ plan: ['setWeight 20', 'pause until promoted'], steps: 2 });
  });

  it('samples the active release every interval, oldest first, and pushes each sample without an id', async () => {
    const first = await samples();
    expect(first.length).toBeGreaterThan(0);
    const stream = new StreamText(`${plane.apiUrl}/api/v1/events?release=1`, token);
    try {
      await waitFor('the stream is open', () => stream.text.includes(': connected'));
      // When the clock passes an interval, the next pass takes a sample.
      clock.advance(SAMPLE_INTERVAL_MS);
      await waitFor('a new sample', async () => (await samples()).length > first.length);
      const all = await samples();
      expect(all.map((s) => s.at)).toEqual([...all.map((s) => s.at)].sort((a, b) => a - b));
      const last = all.at(-1)!;
      expect(last.at).toBe(clock.now());
      // The first release has no stable version; the canary's figures are all there, from the metric source.
      expect(last.stable).toBeNull();
      expect(Object.keys(last.canary!).sort()).toEqual(
        ['errorRate', 'errors', 'p50', 'p99', 'requests', 'rps', 'version'].sort(),
      );
      expect(last.canary).toMatchObject({ version: 'v2' });
      await waitFor('the sample is pushed', () => stream.text.includes('event: release.sample'));
      const frame = stream.text.split('\n\n').find((block) => block.includes('event: release.sample'))!;
      expect(frame.split('\n').some((line) => line.startsWith('id:'))).toBe(false);
      expect(
        JSON.parse(
          frame
            .split('\n')
            .find((l) => l.startsWith('data: '))!
            .slice(6),
        ),
      ).toEqual({
        releaseId: 1,
        service: 'web',
        ...last,
      });
    } finally {
      stream.close();
    }
    // After a time, and a limit.
    const all = await samples();
    expect(await samples(`?after=${all[0]!.at}`)).toEqual(all.filter((s) => s.at > all[0]!.at));
    expect(await samples('?limit=1')).toEqual(all.slice(0, 1));
    expect((await get('/releases/99/samples')).status).toBe(404);
    expect((await get('/releases/1/samples?after=soon')).status).toBe(400);
    expect((await get('/releases/1/samples?limit=0')).status).toBe(400);
  });

  it("tails an instance's log for a deployer, and refuses a bad line count", async () => {
    const status = (await (await get('/services/web')).json()) as {
      versions: { canary: { instances: { id: string }[] } | null };
    };
    const instance = status.versions.canary!.instances[0]!.id;
    await waitFor('the instance has written its first line', async () => {
      const res = await get(`/services/web/instances/${instance}/log`);
      return res.status === 200 && ((await res.json()) as { lines: string[] }).lines.length > 0;
    });
    const res = await get(`/services/web/instances/${instance}/log?lines=1`);
    expect(res.status).toBe(200);
    const log = (await res.json()) as {
      instance: string;
      version: string;
      lines: string[];
      truncated: boolean;
    };
    expect(log).toMatchObject({ instance, version: 'v2' });
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatch(/^listening on \d+ version v2$/);
    expect(log.truncated).toBe(false);
    for (const bad of ['0', '501', 'ten', '2.5']) {
      const refused = await get(`/services/web/instances/${instance}/log?lines=${bad}`);
      expect(refused.status, bad).toBe(400);
      expect(((await refused.json()) as { error: string }).error).toMatch(/from 1 to 500/);
    }
    const unknown = await get('/services/web/instances/web-v9-0/log');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/no instance "web-v9-0" of web/);
  });

  it('answers the exported report as a download, HTML that can run nothing, or Markdown', async () => {
    const html = await get('/releases/1/report');
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(html.headers.get('content-disposition')).toBe('attachment; filename="release-1.html"');
    expect(html.headers.get('content-security-policy')).toBe(REPORT_CSP);
    const page = await html.text();
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('<h1>Release #1: web (none) -&gt; v2</h1>');
    // The audit log's head as its anchor, as `shipcheck checklist export` writes it.
    expect(page).toMatch(/Audit log anchor: entry \d+, sha256 [0-9a-f]{64}/);
    expect(page).not.toContain('<script');

    const md = await get('/releases/1/report?format=md');
    expect(md.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    expect(md.headers.get('content-disposition')).toBe('attachment; filename="release-1.md"');
    expect(await md.text()).toMatch(/^# Release #1: web \(none\) -> v2\n/);
    expect((await get('/releases/1/report?format=pdf')).status).toBe(400);
    expect((await get('/releases/99/report')).status).toBe(404);
  });

  it('takes one last sample when the release ends, and none after', async () => {
    const before = (await samples()).length;
    const aborted = await fetch(`${plane.apiUrl}/api/v1/services/web/abort`, {
      method: 'POST',
      headers: authorized(token, { 'content-type': 'application/json' }),
      body: '{}',
    });
    expect(aborted.status).toBe(200);
    await waitFor('the release has ended', async () => {
      const release = (await (await get('/releases/1')).json()) as { phase: string };
      return release.phase === 'completed';
    });
    await waitFor('the final sample', async () => (await samples()).length === before + 1);
    clock.advance(3 * SAMPLE_INTERVAL_MS);
    // Several passes later, still no other sample.
    await new Promise((resolve) => setTimeout(resolve, QUIET_PERIOD_MS));
    expect(await samples()).toHaveLength(before + 1);
  });
});
