import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type Config, configSchema } from '../config/schema.js';
import type { Engine } from '../engine/engine.js';
import { Reasons } from '../engine/reasons.js';
import type { ReleaseRow, Store } from '../store/types.js';
import {
  ALERTMANAGER_PATH,
  type AlertTarget,
  type AlertmanagerResult,
  alertTargetOf,
  bearerToken,
  compileMatcher,
  compileMatchers,
  describeAlert,
  matchesAll,
  parseAlertmanagerPayload,
  parseMatcher,
  sameToken,
} from './alertmanager.js';
import { API_BODY_LIMIT_BYTES } from './bodies.js';
import { buildApi } from './server.js';
import { inputErrorMessage } from '../../test/support/errors.js';

const VARS = { service: 'web', environment: 'production', version: 'v1.2+3' };
const TOKEN = 'correct-horse-battery-staple';

/** Exactly what Alertmanager 0.25 posted for `amtool alert add HighErrorRate service=web severity=page`. */
function payload(overrides: Record<string, unknown> = {}, alert: Record<string, unknown> = {}) {
  return {
    receiver: 'shipcheck',
    status: 'firing',
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'HighErrorRate', service: 'web', severity: 'page' },
        annotations: { summary: '5xx above 5%' },
        startsAt: '2026-11-26T11:08:05.649334749Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: '',
        fingerprint: 'a2af387933447b25',
        ...alert,
      },
    ],
    groupLabels: { alertname: 'HighErrorRate', service: 'web' },
    commonLabels: { alertname: 'HighErrorRate', service: 'web', severity: 'page' },
    commonAnnotations: { summary: '5xx above 5%' },
    externalURL: 'http://vm:9093',
    version: '4',
    groupKey: '{}:{alertname="HighErrorRate", service="web"}',
    truncatedAlerts: 0,
    ...overrides,
  };
}

describe('parseMatcher', () => {
  it('reads label, operator and quoted value, with or without spaces', () => {
    expect(parseMatcher('service="{{service}}"')).toEqual({
      label: 'service',
      op: '=',
      value: '{{service}}',
    });
    expect(parseMatcher(' env != "staging" ')).toEqual({ label: 'env', op: '!=', value: 'staging' });
    expect(parseMatcher('code=~"5.."')).toEqual({ label: 'code', op: '=~', value: '5..' });
    expect(parseMatcher('team!~"db|infra"')).toEqual({ label: 'team', op: '!~', value: 'db|infra' });
  });

  it('unescapes Go string escapes and keeps any other backslash for the regex', () => {
    expect(parseMatcher(String.raw`summary="say \"hi\""`).value).toBe('say "hi"');
    expect(parseMatcher(String.raw`path="C:\\tmp"`).value).toBe(String.raw`C:\tmp`);
    expect(parseMatcher(String.raw`code=~"5\d\d"`).value).toBe(String.raw`5\d\d`);
  });

  it('rejects anything but label OP "value", and unknown placeholders', () => {
    for (const bad of ['service', 'service=web', '1abc="x"', 'service=="web"', 'service="web" extra']) {
      expect(inputErrorMessage(() => parseMatcher(bad))).toMatch(
        /is not label OP "value" \(operators =, !=, =~, !~\)/,
      );
    }
    expect(inputErrorMessage(() => parseMatcher('service="{{app}}"'))).toMatch(
      /unknown placeholder \{\{app\}\}; use \{\{service\}\}, \{\{environment\}\} or \{\{version\}\}/,
    );
  });
});

describe('compileMatcher', () => {
  const test = (text: string, labels: Record<string, string>): boolean =>
    compileMatcher(parseMatcher(text), VARS).matches(labels);

  it('fills in {{service}}, {{environment}} and {{version}}', () => {
    const m = compileMatcher(parseMatcher('release="{{service}}-{{environment}}-{{ version }}"'), VARS);
    expect(m.text).toBe('release="web-production-v1.2+3"');
    expect(m.matches({ release: 'web-production-v1.2+3' })).toBe(true);
  });

  it('compares = and != exactly, a missing label counting as empty', () => {
    expect(test('service="{{service}}"', { service: 'web' })).toBe(true);
    expect(test('service="{{service}}"', { service: 'web2' })).toBe(false);
    expect(test('service="{{service}}"', {})).toBe(false);
    expect(test('env=""', {})).toBe(true);
    expect(test('env!="staging"', {})).toBe(true);
    expect(test('env!="staging"', { env: 'staging' })).toBe(false);
  });

  it('anchors regexes fully, as Prometheus does', () => {
    expect(test('service=~"we"', { service: 'web' })).toBe(false);
    expect(test('service=~"web"', { service: 'web-canary' })).toBe(false);
    expect(test('service=~"web.*"', { service: 'web-canary' })).toBe(true);
    // The group keeps alternation inside the anchors: neither "ab" nor "xa" matches a|b.
    expect(test('x=~"a|b"', { x: 'b' })).toBe(true);
    expect(test('x=~"a|b"', { x: 'ab' })).toBe(false);
    expect(test('code!~"5.."', { code: '503' })).toBe(false);
    expect(test('code!~"5.."', { code: '200' })).toBe(true);
  });

  it('escapes placeholder values inside a regex', () => {
    expect(test('version=~"{{version}}"', { version: 'v1.2+3' })).toBe(true);
    expect(test('version=~"{{version}}"', { version: 'v1x2++3' })).toBe(false);
    expect(test('version=~"{{version}}|canary"', { version: 'canary' })).toBe(true);
  });

  it('rejects an invalid regex with the matcher in the message', () => {
    expect(inputErrorMessage(() => compileMatcher(parseMatcher('x=~"(unclosed"'), VARS))).toMatch(
      /^matcher 'x=~"\(unclosed"': Invalid regular expression/,
    );
  });

  it('needs every matcher of a list to hold', () => {
    const matchers = compileMatchers(['service="{{service}}"', 'severity=~"page|critical"'], VARS);
    expect(matchesAll(matchers, { service: 'web', severity: 'page' })).toBe(true);
    expect(matchesAll(matchers, { service: 'web', severity: 'ticket' })).toBe(false);
    expect(matchesAll(matchers, { service: 'other', severity: 'page' })).toBe(false);
  });
});

describe('parseAlertmanagerPayload', () => {
  it("accepts Alertmanager's own payload and keeps fields it does not read", () => {
    const parsed = parseAlertmanagerPayload(payload());
    expect(parsed.alerts[0]).toMatchObject({ status: 'firing', fingerprint: 'a2af387933447b25' });
    expect(parsed).toMatchObject({
      truncatedAlerts: 0,
      groupKey: '{}:{alertname="HighErrorRate", service="web"}',
    });
  });

  it('defaults annotations and the common label sets when a sender leaves them out', () => {
    const { commonLabels, ...rest } = payload({}, { annotations: undefined });
    expect(commonLabels).toBeDefined();
    const parsed = parseAlertmanagerPayload(rest);
    expect(parsed.commonLabels).toEqual({});
    expect(parsed.alerts[0]?.annotations).toEqual({});
  });

  it('rejects another payload version, naming the field', () => {
    expect(inputErrorMessage(() => parseAlertmanagerPayload(payload({ version: '3' })))).toBe(
      'invalid Alertmanager payload: version: expected "4" (the Alertmanager webhook payload version shipcheck reads), got "3"',
    );
    expect(inputErrorMessage(() => parseAlertmanagerPayload(payload({ version: undefined })))).toBe(
      'invalid Alertmanager payload: version: missing; Alertmanager sends "version": "4"',
    );
  });

  it('names each bad field of each alert', () => {
    const message = inputErrorMessage(() =>
      parseAlertmanagerPayload(
        payload({}, { status: 'pending', startsAt: 'yesterday', fingerprint: undefined, labels: { a: 1 } }),
      ),
    );
    expect(message).toMatch(/^invalid Alertmanager payload: /);
    expect(message).toContain('alerts[0].status: expected "firing" or "resolved"');
    expect(message).toContain('alerts[0].labels.a: expected a string label value');
    expect(message).toContain('alerts[0].startsAt: expected an RFC 3339 time');
    expect(message).toContain('alerts[0].fingerprint: missing');
  });

  it('rejects a body that is not an object', () => {
    for (const body of [undefined, null, 'text', [payload()]]) {
      expect(inputErrorMessage(() => parseAlertmanagerPayload(body))).toBe(
        'body must be a JSON object: the Alertmanager webhook payload (version 4)',
      );
    }
    expect(inputErrorMessage(() => parseAlertmanagerPayload({ version: '4' }))).toMatch(
      /receiver: missing; status: .*; alerts: missing; groupKey: missing/,
    );
  });
});

describe('describeAlert', () => {
  const alert = (labels: Record<string, string>, annotations: Record<string, string>) =>
    parseAlertmanagerPayload(payload({}, { labels, annotations })).alerts[0]!;

  it('names the alert, its severity and its summary (else its description)', () => {
    expect(
      describeAlert(alert({ alertname: 'HighErrorRate', severity: 'page' }, { summary: '5xx above 5%' })),
    ).toBe('HighErrorRate (severity=page): 5xx above 5%');
    expect(describeAlert(alert({ alertname: 'Slow' }, { description: 'p99\n  above 2s' }))).toBe(
      'Slow: p99 above 2s',
    );
    expect(describeAlert(alert({}, {}))).toBe('alert a2af387933447b25');
  });

  it('shortens a long summary', () => {
    const described = describeAlert(alert({ alertname: 'A' }, { summary: 'x'.repeat(500) }));
    expect(described.length).toBeLessThan(210);
    expect(described.endsWith('…')).toBe(true);
  });
});

describe('tokens', () => {
  it('reads a bearer token, whatever the scheme case', () => {
    expect(bearerToken(`Bearer ${TOKEN}`)).toBe(TOKEN);
    expect(bearerToken(`bearer  ${TOKEN} `)).toBe(TOKEN);
    expect(bearerToken(`Basic ${TOKEN}`)).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });

  it('compares tokens of any lengths', () => {
    expect(sameToken(TOKEN, TOKEN)).toBe(true);
    expect(sameToken(TOKEN.slice(0, -1), TOKEN)).toBe(false);
    expect(sameToken('', TOKEN)).toBe(false);
  });
});

function config(alerts: Record<string, unknown> | undefined): Config {
  return configSchema.parse({
    service: 'web',
    fleet: { kind: 'local', command: 'unused' },
    rollback: alerts ? { alerts } : {},
  });
}

describe('alertTargetOf', () => {
  it('has no target without rollback.alerts', () => {
    expect(alertTargetOf(config(undefined), undefined)).toBeUndefined();
  });

  it('takes the token from the config, with the default matcher', () => {
    expect(alertTargetOf(config({ token: TOKEN }), undefined)).toEqual({
      unit: 'web',
      service: 'web',
      matchers: ['service="{{service}}"'],
      token: TOKEN,
    });
  });

  it('names an environment unit after it', () => {
    expect(alertTargetOf(config({ token: TOKEN }), 'staging')).toMatchObject({
      unit: 'web@staging',
      environment: 'staging',
    });
  });

  it('reads tokenEnv, and says which variable is unset or too short', () => {
    const withEnv = config({ tokenEnv: 'AM_TOKEN' });
    expect(alertTargetOf(withEnv, undefined, { AM_TOKEN: TOKEN })?.token).toBe(TOKEN);
    expect(inputErrorMessage(() => alertTargetOf(withEnv, 'production', {}))).toBe(
      'rollback.alerts.tokenEnv (environment production): the environment variable AM_TOKEN is not set; ' +
        'set it to the bearer token Alertmanager sends',
    );
    expect(inputErrorMessage(() => alertTargetOf(withEnv, undefined, { AM_TOKEN: '' }))).toMatch(
      /AM_TOKEN is not set/,
    );
    expect(inputErrorMessage(() => alertTargetOf(withEnv, undefined, { AM_TOKEN: 'short' }))).toBe(
      'rollback.alerts.tokenEnv: AM_TOKEN holds 5 characters; use a token of at least 16',
    );
  });

  it('rejects a matcher whose regex does not compile, naming it', () => {
    const bad = config({ token: TOKEN, matchers: ['service="{{service}}"', 'code=~"5(("'] });
    expect(inputErrorMessage(() => alertTargetOf(bad, undefined))).toMatch(
      /^rollback\.alerts\.matchers\[1\]: matcher 'code=~"5\(\("': Invalid regular expression/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The route, through the real API with stand-ins for the engine and store.

/** Does what the engine does with alerts, on one release held in memory. */
class FakeUnit {
  release: ReleaseRow | undefined;
  readonly fired: { reason: string; data: Record<string, unknown> }[] = [];
  readonly recorded: { type: string; message: string; data: Record<string, unknown> }[] = [];

  constructor(
    readonly name: string,
    version: string | undefined,
  ) {
    this.release = version ? release(name, version) : undefined;
  }

  async alertFired(reason: string, data: Record<string, unknown>): Promise<ReleaseRow | undefined> {
    this.fired.push({ reason, data });
    const active = this.release;
    if (!active || active.phase === 'rolling-back') return active;
    this.release = { ...active, phase: 'rolling-back', reason: Reasons.alertFired(reason) };
    return this.release;
  }

  async alertRecorded(type: string, message: string, data: Record<string, unknown>): Promise<void> {
    this.recorded.push({ type, message, data });
  }
}

function release(service: string, version: string): ReleaseRow {
  return {
    id: 7,
    service,
    version,
    fromVersion: 'v1',
    kind: 'deploy',
    state: 'paused',
    phase: 'canary',
    step: 1,
    weight: 20,
    reason: null,
    outcome: null,
    stepStartedAt: 0,
    phaseStartedAt: 0,
    createdAt: 0,
    updatedAt: 0,
    endedAt: null,
  };
}

function api(units: FakeUnit[], alerts: AlertTarget[]): FastifyInstance {
  const byName = new Map(units.map((u) => [u.name, u]));
  const store = {
    activeRelease: async (name: string) => byName.get(name)?.release,
    getService: async (name: string) => ({
      name,
      stableVersion: 'v1',
      previousVersion: null,
      previousRetireAt: null,
      updatedAt: 0,
    }),
  };
  return buildApi({
    engines: byName as unknown as ReadonlyMap<string, Engine>,
    store: store as unknown as Store,
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    alerts: () => alerts,
  });
}

function target(unit: string, token = TOKEN, matchers = ['service="{{service}}"']): AlertTarget {
  const [service = unit, environment] = unit.split('@');
  return { unit, service, ...(environment ? { environment } : {}), matchers, token };
}

describe(`POST ${ALERTMANAGER_PATH}`, () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /** `token: null` sends no Authorization header. */
  const post = (body: unknown, token: string | null = TOKEN) =>
    app!.inject({
      method: 'POST',
      url: ALERTMANAGER_PATH,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
      payload: body as Record<string, unknown>,
    });

  it('answers 404, saying what to configure, when no service takes alerts', async () => {
    app = api([new FakeUnit('web', 'v2')], []);
    const res = await post(payload());
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      error:
        'no service takes Alertmanager alerts: configure rollback.alerts (a token and label matchers) in shipcheck.yaml',
    });
  });

  it('answers 401 with WWW-Authenticate for a missing or wrong token, before reading the body', async () => {
    const web = new FakeUnit('web', 'v2');
    app = api([web], [target('web')]);
    const missing = await post(payload(), null);
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="shipcheck"');
    expect(missing.json().error).toMatch(/^missing "Authorization: Bearer <token>" header/);
    const wrong = await post(payload(), 'not-the-token-at-all');
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toEqual({ error: 'the bearer token does not match rollback.alerts.token' });
    // A malformed body without the token is still a 401: nothing is parsed for strangers.
    expect((await post({ version: '3' }, 'not-the-token-at-all')).statusCode).toBe(401);
    expect(web.fired).toEqual([]);
  });

  it('answers 400 naming the field for a malformed payload, and rolls nothing back', async () => {
    const web = new FakeUnit('web', 'v2');
    app = api([web], [target('web')]);
    const res = await post(payload({ version: '3' }));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatch(/^invalid Alertmanager payload: version: expected "4"/);
    expect(web.fired).toEqual([]);
  });

  it('rolls the matching release back once, with the alert as the reason; repeats are duplicates', async () => {
    const web = new FakeUnit('web', 'v2');
    app = api([web], [target('web')]);
    const first = await post(payload());
    expect(first.statusCode).toBe(200);
    expect(first.json<AlertmanagerResult>()).toEqual({
      rolledBack: [{ service: 'web', release: 7, version: 'v2' }],
      recorded: 0,
      ignored: 0,
      duplicates: 0,
    });
    expect(web.fired).toEqual([
      {
        reason: 'HighErrorRate (severity=page): 5xx above 5%',
        data: expect.objectContaining({
          fingerprint: 'a2af387933447b25',
          startsAt: '2026-11-26T11:08:05.649334749Z',
          labels: { alertname: 'HighErrorRate', service: 'web', severity: 'page' },
          groupKey: '{}:{alertname="HighErrorRate", service="web"}',
          receiver: 'shipcheck',
        }),
      },
    ]);
    const again = await post(payload());
    expect(again.json<AlertmanagerResult>()).toMatchObject({ rolledBack: [], duplicates: 1 });
    expect(web.fired).toHaveLength(1);
  });

  it('records, and does not roll back for, an alert that was firing before the release began', async () => {
    const web = new FakeUnit('web', 'v2');
    web.release = { ...web.release!, createdAt: Date.parse('2026-11-26T11:30:00Z') };
    app = api([web], [target('web')]);
    expect((await post(payload())).json<AlertmanagerResult>()).toMatchObject({ rolledBack: [], recorded: 1 });
    expect(web.fired).toEqual([]);
    expect(web.recorded).toEqual([
      {
        type: 'alert.firing',
        message:
          'HighErrorRate (severity=page): 5xx above 5%; firing since before release #7 began, so it is not rolled back',
        data: expect.objectContaining({ fingerprint: 'a2af387933447b25', release: 7 }),
      },
    ]);
  });

  it('records a firing alert that has nothing to roll back, and a new firing of the same alert', async () => {
    const web = new FakeUnit('web', undefined);
    app = api([web], [target('web')]);
    expect((await post(payload())).json<AlertmanagerResult>()).toMatchObject({ rolledBack: [], recorded: 1 });
    const refired = payload({}, { startsAt: '2026-11-26T12:00:00Z' });
    expect((await post(refired)).json<AlertmanagerResult>()).toMatchObject({ recorded: 1, duplicates: 0 });
    expect(web.fired).toHaveLength(2);
  });

  it('records resolved alerts and ignores alerts that match no service', async () => {
    const web = new FakeUnit('web', 'v2');
    app = api([web], [target('web')]);
    const resolved = payload(
      { status: 'resolved' },
      {
        status: 'resolved',
        endsAt: '2026-11-26T11:09:00Z',
        labels: { alertname: 'HighErrorRate', service: 'web' },
      },
    );
    expect((await post(resolved)).json<AlertmanagerResult>()).toMatchObject({ rolledBack: [], recorded: 1 });
    expect(web.recorded).toEqual([
      {
        type: 'alert.resolved',
        message: 'alert resolved: HighErrorRate: 5xx above 5%',
        data: expect.objectContaining({ fingerprint: 'a2af387933447b25', endsAt: '2026-11-26T11:09:00Z' }),
      },
    ]);
    const other = payload({}, { labels: { alertname: 'HighErrorRate', service: 'other' } });
    expect((await post(other)).json<AlertmanagerResult>()).toEqual({
      rolledBack: [],
      recorded: 0,
      ignored: 1,
      duplicates: 0,
    });
    expect(web.fired).toEqual([]);
  });

  it("fills {{version}} with the active release's version", async () => {
    const web = new FakeUnit('web', 'v2');
    app = api([web], [target('web', TOKEN, ['service="{{service}}"', 'version="{{version}}"'])]);
    const stable = payload({}, { labels: { alertname: 'X', service: 'web', version: 'v1' } });
    expect((await post(stable)).json<AlertmanagerResult>()).toMatchObject({ ignored: 1 });
    const canary = payload({}, { labels: { alertname: 'X', service: 'web', version: 'v2' } });
    expect((await post(canary)).json<AlertmanagerResult>().rolledBack).toHaveLength(1);
  });

  it('takes an alert group larger than the rest of the API takes, as JSON only, and checks the token first', async () => {
    app = api([new FakeUnit('web', 'v2')], [target('web')]);
    // A large group: hundreds of alerts with long annotations, well past the API's own body limit.
    const alerts = Array.from({ length: 400 }, (_, i) => ({
      ...payload().alerts[0],
      fingerprint: `fp${i}`,
      labels: { alertname: 'DiskFull', service: 'other', instance: `host-${i}:9100` },
      annotations: { description: `disk of host-${i} is ${'full '.repeat(60)}` },
    }));
    const large = payload({ alerts });
    expect(JSON.stringify(large).length).toBeGreaterThan(API_BODY_LIMIT_BYTES);
    const res = await post(large);
    expect(res.statusCode).toBe(200);
    expect(res.json<AlertmanagerResult>()).toMatchObject({ ignored: 400 });

    const asText = (token: string) =>
      app!.inject({
        method: 'POST',
        url: ALERTMANAGER_PATH,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
        payload: JSON.stringify(payload()),
      });
    expect((await asText('not-the-token-at-all')).statusCode).toBe(401);
    const plain = await asText(TOKEN);
    expect(plain.statusCode).toBe(415);
    expect(plain.json().error).toMatch(/takes a JSON body sent with "content-type: application\/json"/);
  });

  it("reaches only the units whose token was sent: staging's Alertmanager cannot roll back production", async () => {
    const staging = new FakeUnit('web@staging', 'v2');
    const production = new FakeUnit('web@production', 'v2');
    const stagingToken = 'staging-token-0123456789';
    app = api([staging, production], [target('web@staging', stagingToken), target('web@production')]);
    const res = await post(payload(), stagingToken);
    expect(res.json<AlertmanagerResult>().rolledBack).toEqual([
      { service: 'web@staging', release: 7, version: 'v2' },
    ]);
    expect(production.fired).toEqual([]);
  });
});
