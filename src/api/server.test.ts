import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/e2e/harness.js';
import { authorized, createAdminToken, createFirstAdmin } from '../../test/support/auth.js';
import { loadConfig } from '../config/loader.js';
import { type ControlPlane, startControlPlane } from '../control-plane.js';
import type { ChecklistItemRow } from '../store/types.js';
import { ManualClock } from '../util/clock.js';
import { API_BODY_LIMIT_BYTES, MAX_NOTE_CHARS } from './bodies.js';

const SAMPLE_APP = fileURLToPath(new URL('../../examples/app/server.js', import.meta.url));

/** Manual items at every gate a release stops at, so each gate holds until someone signs. */
const TEMPLATE = `name: api
items:
  - { id: pre/plan, section: Pre, title: Rollback plan, kind: manual, gate: pre-deploy }
  - { id: pre/window, section: Pre, title: Deploy window, kind: manual, gate: pre-deploy }
  - { id: pre/comms, section: Pre, title: Tell support, kind: manual, gate: pre-deploy }
  - { id: canary/looked, section: Canary, title: Canary looked at, kind: manual, gate: canary }
  - { id: verify/journeys, section: Verify, title: Journeys, kind: manual, gate: verify }
  - { id: verify/dashboards, section: Verify, title: Dashboards, kind: manual, gate: verify }
`;

/** The first admin, created with the setup code; every request signs in as her, so she signs every item. */
const SIGNER = 'alice';

interface ReleaseJson {
  id: number;
  version: string;
  state: string;
  phase: string;
  step: number;
  weight: number;
  reason: string | null;
}

/** A real control plane in this process: real HTTP, SQLite, app processes; time only moves by hand. */
class Api {
  private constructor(
    readonly dir: string,
    readonly plane: ControlPlane,
    /** An admin API token of {@link SIGNER}. */
    readonly token: string,
  ) {}

  static async start(): Promise<Api> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-api-'));
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
strategy: { steps: [{ pause: {} }, { setWeight: 50 }, { pause: {} }], bakeTime: 0s }
checklist: { template: checklist.yaml }
`,
    );
    const loaded = await loadConfig(path.join(dir, 'shipcheck.yaml'));
    const plane = await startControlPlane(loaded, pino({ level: 'silent' }), {
      clock: new ManualClock(Date.parse('2026-12-06T10:00:00Z')),
      tickMs: 50,
    });
    // Signed in as a user would: the one-time code `shipcheck up` prints, a login, an API token.
    const code = plane.setupCode;
    if (code === undefined) throw new Error('a fresh store has no setup code');
    const token = await createAdminToken(plane.apiUrl, await createFirstAdmin(plane.apiUrl, code, SIGNER));
    return new Api(dir, plane, token);
  }

  /** POSTs `body` as JSON (a string is sent as it is), or with the given content type, and `headers`. */
  async post(
    route: string,
    body: unknown,
    contentType: string | null = 'application/json',
    headers: Record<string, string> = {},
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${this.plane.apiUrl}/api/v1${route}`, {
      method: 'POST',
      headers: authorized(this.token, {
        ...(contentType === null ? {} : { 'content-type': contentType }),
        ...headers,
      }),
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  /** GETs `route` under /api/v1 with the token. */
  get(route: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
    return fetch(`${this.plane.apiUrl}/api/v1${route}`, {
      headers: authorized(this.token, headers),
      ...(signal ? { signal } : {}),
    });
  }

  async release(): Promise<ReleaseJson | null> {
    const res = await this.get('/services/web');
    return ((await res.json()) as { release: ReleaseJson | null }).release;
  }

  async until(what: string, check: (r: ReleaseJson) => boolean): Promise<ReleaseJson> {
    await waitFor(what, async () => {
      const release = await this.release();
      return release !== null && check(release);
    });
    return (await this.release())!;
  }

  async close(): Promise<void> {
    await this.plane.close({ stopInstances: true });
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('the API', () => {
  let api: Api | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it('answers 409 to a control command when no release is active', async () => {
    api = await Api.start();
    for (const action of ['pause', 'resume', 'abort']) {
      expect(await api.post(`/services/web/${action}`, {})).toEqual({
        status: 409,
        json: { error: `service web has no active release to ${action}` },
      });
    }
    expect(await api.post('/services/web/promote', { full: true })).toEqual({
      status: 409,
      json: { error: 'service web has no active release to promote' },
    });
  });

  it('takes only JSON on a mutating route, so a page in a browser cannot pause or abort a release', async () => {
    api = await Api.start();
    // Given a release waiting at its pre-deploy gate
    expect((await api.post('/services/web/releases', { version: '1.4.2' })).status).toBe(201);
    await api.until('waiting', (r) => r.state === 'waiting');

    // When a web page posts a "simple" request, with no preflight, to pause or abort it
    const plain = await api.post('/services/web/pause', '{}', 'text/plain');
    expect(plain.status).toBe(415);
    expect(plain.json.error).toBe(
      'POST /api/v1/services/:service/pause takes a JSON body sent with "content-type: application/json" ' +
        '(got content-type "text/plain"); send {} when there is nothing to say',
    );
    expect((await api.post('/services/web/abort', 'a=1', 'application/x-www-form-urlencoded')).status).toBe(
      415,
    );
    expect((await api.post('/services/web/abort', '--x--', 'multipart/form-data; boundary=x')).status).toBe(
      415,
    );
    expect((await api.post('/services/web/pause', undefined, null)).json.error).toMatch(
      /\(no content-type was sent\)/,
    );
    expect(
      (await api.post('/services/web/pause', '{}', 'application/json; charset=latin1')).json.error,
    ).toMatch(/the only parameter accepted is charset=utf-8/);
    // Then nothing changed
    expect(await api.release()).toMatchObject({ id: 1, state: 'waiting', phase: 'pre-deploy' });

    // JSON in UTF-8, however the header is written, is taken
    const paused = await api.post('/services/web/pause', '{}', 'Application/JSON; Charset="UTF-8"');
    expect(paused).toMatchObject({ status: 200, json: { id: 1, state: 'paused' } });
    // An unknown route is a 404 whatever it is sent
    expect((await api.post('/services/web/nope', 'x', 'text/plain')).status).toBe(404);
  });

  it('refuses bodies that are not JSON objects, too large, or carry unknown fields', async () => {
    api = await Api.start();
    const deploy = (body: unknown, type?: string) => api!.post('/services/web/releases', body, type);

    expect(await deploy({ version: '1.4.2', force: true })).toEqual({
      status: 400,
      json: { error: 'unknown field "force" (this route takes version)' },
    });
    expect((await deploy({ versoin: '1.4.2' })).json.error).toBe(
      'unknown field "versoin"; did you mean "version"?; version: required',
    );
    expect((await deploy({})).json.error).toBe('version: required');
    expect((await deploy({ version: 142 })).json.error).toBe('version: expected a string, got number 142');
    expect((await deploy([])).json.error).toBe(
      'body must be a JSON object (this route takes version); got a list',
    );
    expect((await deploy('null')).json.error).toMatch(/^body must be a JSON object .*; got null$/);
    expect(await deploy('')).toEqual({
      status: 400,
      json: { error: 'the body is empty; send a JSON object, {} when there is nothing to say' },
    });
    expect(await deploy('{"version": ')).toMatchObject({
      status: 400,
      json: { error: expect.stringMatching(/^the body is not valid JSON: /) },
    });
    expect(await deploy({ version: 'v'.repeat(API_BODY_LIMIT_BYTES) })).toEqual({
      status: 413,
      json: { error: `request body is larger than ${API_BODY_LIMIT_BYTES.toLocaleString('en-US')} bytes` },
    });
    // Routes with nothing to say take {} and nothing else
    expect((await api.post('/services/web/pause', { now: true })).json.error).toBe(
      'unknown field "now" (this route takes no fields: send {})',
    );
    expect((await api.post('/services/web/promote', { full: 'yes' })).json.error).toBe(
      'full: expected true or false, got the string "yes"',
    );
    // A huge unknown key is not echoed back whole
    const long = (await api.post('/services/web/pause', { ['k'.repeat(5000)]: 1 })).json.error as string;
    expect(long.length).toBeLessThan(200);
    expect(await api.release()).toBeNull();
  });

  it('takes a version only when it reads as neither an option nor a path', async () => {
    api = await Api.start();
    for (const bad of ['--help', '-rf', '.', '..', 'a..b', '', ' 1.0', '1.0/../x', 'é1', 'v'.repeat(129)]) {
      const res = await api.post('/services/web/releases', { version: bad });
      expect(res.status, bad).toBe(400);
      expect(res.json.error, bad).toMatch(
        /^(version .* is not valid: a version starts with|a version is required|version is 129 characters long; at most 128)/,
      );
    }
    expect(await api.release()).toBeNull();
    for (const good of ['1.4.2', 'v2+build.1', '2026-12-06_rc1']) {
      const res = await api.post('/services/web/releases', { version: good });
      expect(res, good).toMatchObject({ status: 201, json: { version: good } });
      expect(await api.post('/services/web/abort', {})).toMatchObject({ status: 200 });
      await api.until(`${good} aborted`, (r) => r.version === good && r.state === 'aborted');
    }
    // The engine holds the same rule for callers that do not come through the API
    await expect(api.plane.engine.deploy('-rf')).rejects.toThrow(/version "-rf" is not valid/);
  });

  it('starts one release for a deploy repeated with the same Idempotency-Key', async () => {
    api = await Api.start();
    const deploy = (version: string, key: string) =>
      api!.post('/services/web/releases', { version }, 'application/json', { 'idempotency-key': key });
    // Given a deploy sent with a key
    const first = await deploy('1.4.2', 'ci-run-4711');
    expect(first).toMatchObject({ status: 201, json: { version: '1.4.2', state: 'waiting' } });
    // When the client sends it again with the same key (its answer was lost)
    const again = await deploy('1.4.2', 'ci-run-4711');
    // Then it gets the release the first request started, not a 409 and not a second release
    expect(again).toMatchObject({ status: 201, json: { id: first.json.id, version: '1.4.2' } });
    // Even after that release has ended: the key names that deploy for good
    expect(await api.post('/services/web/abort', {})).toMatchObject({ status: 200 });
    await api.until('1.4.2 aborted', (r) => r.state === 'aborted');
    expect(await deploy('1.4.2', 'ci-run-4711')).toMatchObject({
      status: 201,
      json: { id: first.json.id, state: 'aborted' },
    });
    const res = await api.get('/services/web/releases');
    expect(((await res.json()) as { releases: unknown[] }).releases).toHaveLength(1);
    // And the same key for another version is refused, while a new key starts a new release
    expect(await deploy('1.4.3', 'ci-run-4711')).toEqual({
      status: 400,
      json: {
        error: `Idempotency-Key "ci-run-4711" already started release #${String(first.json.id)} of version 1.4.2; send a new key to deploy 1.4.3`,
      },
    });
    const next = await deploy('1.4.3', 'ci-run-4712');
    expect(next).toMatchObject({ status: 201, json: { version: '1.4.3' } });
    expect(next.json.id).not.toBe(first.json.id);
    // A key that is no key is refused before anything starts
    for (const [bad, problem] of [
      ['""', /is empty/],
      ['k'.repeat(256), /256 characters long; at most 255/],
      ['two words', /printable ASCII without spaces/],
    ] as const) {
      const refused = await deploy('1.4.4', bad);
      expect(refused.status, bad).toBe(400);
      expect(refused.json.error, bad).toMatch(problem);
    }
  });

  it('answers 409 with the current state to a second sign-off or waiver, and limits what a note may hold', async () => {
    api = await Api.start();
    await api.post('/services/web/releases', { version: '1.4.2' });
    await api.until('waiting', (r) => r.state === 'waiting');
    const sign = (body: unknown) => api!.post('/services/web/checklist/sign', body);
    const waive = (body: unknown) => api!.post('/services/web/checklist/waive', body);

    expect(await sign({ item: 'pre/plan', note: 'n'.repeat(MAX_NOTE_CHARS + 1) })).toEqual({
      status: 400,
      json: { error: `note: at most ${MAX_NOTE_CHARS} characters, got ${MAX_NOTE_CHARS + 1}` },
    });
    // The signer is who signed in: a body cannot name someone else.
    expect(await sign({ item: 'pre/plan', by: 'mallory' })).toEqual({
      status: 400,
      json: { error: 'unknown field "by" (this route takes item, note)' },
    });
    expect((await sign({ item: 'pre/plan', note: 'runbook\u0007' })).json.error).toBe(
      'note: control character U+0007 is not allowed',
    );
    expect((await sign({ item: '' })).json.error).toBe('item: must not be empty');
    expect((await sign({ note: 'n' })).json.error).toBe('item: required');
    expect((await waive({ item: 'pre/window' })).json.error).toBe('reason: required');
    expect((await waive({ item: 'pre/window', reason: '  ' })).json.error).toBe(
      'reason: must say why the item need not pass',
    );

    const signed = await sign({ item: 'pre/plan', note: 'runbook 12\nsee wiki' });
    expect(signed).toMatchObject({ status: 200, json: { id: 'pre/plan', state: 'passed' } });
    expect(await sign({ item: 'pre/plan' })).toEqual({
      status: 409,
      json: {
        error:
          '"pre/plan" was already signed by alice at 2026-12-06T10:00:00Z ("runbook 12 see wiki"); nothing to do',
      },
    });
    expect((await waive({ item: 'pre/plan', reason: 'late' })).json.error).toMatch(
      /^"pre\/plan" was already signed by alice at .*; nothing to waive$/,
    );

    expect((await waive({ item: 'pre/window', reason: 'hotfix' })).status).toBe(200);
    expect(await waive({ item: 'pre/window', reason: 'again' })).toEqual({
      status: 409,
      json: {
        error:
          '"pre/window" was already waived by alice at 2026-12-06T10:00:00Z ("hotfix"); nothing to waive',
      },
    });
    expect((await sign({ item: 'pre/window' })).status).toBe(409);

    // Each item kept exactly one entry: repeats added nothing
    const view = (await (await api.get('/services/web/checklist')).json()) as {
      items: ChecklistItemRow[];
    };
    const evidence = Object.fromEntries(view.items.map((i) => [i.id, i.evidence.length]));
    expect(evidence).toMatchObject({ 'pre/plan': 1, 'pre/window': 1, 'pre/comms': 0 });
  });

  it('signs a whole gate at once, and refuses to promote a release that a gate holds', async () => {
    api = await Api.start();
    const signGate = (body: unknown = { note: 'CAB-7' }) =>
      api!.post('/services/web/checklist/sign-gate', body);
    const promote = (full = false) => api!.post('/services/web/promote', { full });

    // Given a first release waiting at pre-deploy with three items to sign
    await api.post('/services/web/releases', { version: 'v1' });
    await api.until('v1 waiting', (r) => r.state === 'waiting');
    expect(await promote()).toEqual({
      status: 409,
      json: {
        error:
          'release #1 is waiting at the pre-deploy gate: 3 items to sign (pre/plan, pre/window, pre/comms); ' +
          'sign them ("shipcheck sign --gate") or waive them',
      },
    });
    expect((await promote(true)).status).toBe(409);
    expect((await signGate({ note: 'CAB-7', force: true })).json.error).toBe(
      'unknown field "force" (this route takes note)',
    );
    expect((await api.post('/services/web/checklist/sign', { item: 'pre/plan' })).status).toBe(200);

    // When the gate is signed in one go, only what was left is signed, each with the note
    const gate = await signGate();
    expect(gate.status).toBe(200);
    expect(gate.json.gate).toBe('pre-deploy');
    const signed = gate.json.signed as ChecklistItemRow[];
    expect(signed.map((i) => [i.id, i.state])).toEqual([
      ['pre/window', 'passed'],
      ['pre/comms', 'passed'],
    ]);
    expect(signed[0]!.evidence).toEqual([
      { at: Date.parse('2026-12-06T10:00:00Z'), summary: `signed by ${SIGNER}`, by: SIGNER, note: 'CAB-7' },
    ]);
    const events = (await (await api.get('/releases/1/events')).json()) as {
      events: { type: string; message: string }[];
    };
    expect(events.events.filter((e) => e.type === 'checklist.item').map((e) => e.message)).toEqual([
      `pre/plan: passed (signed by ${SIGNER})`,
      `pre/window: passed (signed by ${SIGNER})`,
      `pre/comms: passed (signed by ${SIGNER})`,
    ]);

    // Then a first release goes to the verify gate, where promote says what holds it
    await api.until('v1 at verify', (r) => r.phase === 'verify' && r.state === 'waiting');
    expect((await promote(true)).json.error).toBe(
      'release #1 is waiting at the verify gate: 2 items to sign (verify/journeys, verify/dashboards); ' +
        'sign them ("shipcheck sign --gate") or waive them',
    );
    expect((await signGate()).json.gate).toBe('verify');
    await api.until('v1 succeeded', (r) => r.state === 'succeeded');
    expect(await signGate()).toEqual({
      status: 409,
      json: { error: 'release #1 is at no gate (phase completed); nothing to sign until it reaches one' },
    });

    // Given v2 at its canary gate: instances up, no traffic yet
    await api.post('/services/web/releases', { version: 'v2' });
    await api.until('v2 waiting', (r) => r.state === 'waiting');
    await signGate();
    const atCanary = await api.until(
      'v2 at the canary gate',
      (r) => r.phase === 'canary' && r.state === 'waiting',
    );
    expect(atCanary).toMatchObject({ step: 0, weight: 0 });
    // Then neither promote nor promote --full passes it
    expect((await promote()).json.error).toBe(
      'release #2 is waiting at the canary gate: 1 item to sign (canary/looked); ' +
        'sign them ("shipcheck sign --gate") or waive them',
    );
    expect((await promote(true)).status).toBe(409);
    expect(await api.release()).toMatchObject({ phase: 'canary', step: 0, weight: 0, state: 'waiting' });

    // When the gate is signed, the first step (a pause, still at weight 0) can be promoted
    expect((await signGate()).json.gate).toBe('canary');
    await api.until('v2 paused at step 0', (r) => r.state === 'paused' && r.step === 0);
    expect(await promote()).toMatchObject({ status: 200, json: { state: 'paused', step: 2, weight: 50 } });
    expect(await signGate()).toEqual({
      status: 409,
      json: { error: 'nothing left to sign at the canary gate of release #2' },
    });
    expect((await promote()).status).toBe(200);
    await api.until('v2 at verify', (r) => r.phase === 'verify' && r.state === 'waiting');
    expect((await promote()).status).toBe(409);
    await signGate();
    await api.until('v2 succeeded', (r) => r.state === 'succeeded');
  });

  it("streams one service's events past pages of other services' events", async () => {
    api = await Api.start();
    const { store } = api.plane;
    // More events of another unit than one page of the store holds, then one of this service.
    for (let i = 0; i < 1100; i++)
      await store.addEvent({
        service: 'other',
        releaseId: null,
        at: i,
        type: 'noise',
        message: '',
        data: {},
      });
    const wanted = await store.addEvent({
      service: 'web',
      releaseId: null,
      at: 2000,
      type: 'wanted',
      message: 'this one',
      data: {},
    });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 10_000);
    try {
      const res = await api.get('/events?service=web', { 'last-event-id': '0' }, controller.signal);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      while (!text.includes(`id: ${wanted.id}\n`)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      expect(text).toContain(`id: ${wanted.id}\nevent: wanted`);
      expect(text).not.toContain('event: noise');
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
  });
});
