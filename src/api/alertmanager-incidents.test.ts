import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { contextOf, sent } from '../comms/incidents/incidents.case.js';
import { Incidents } from '../comms/incidents/incidents.js';
import type { EscalationPolicy } from '../comms/types.js';
import type { Engine } from '../engine/engine.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { ManualClock } from '../util/clock.js';
import { ALERTMANAGER_PATH, type AlertmanagerResult, type AlertTarget } from './alertmanager.js';
import { buildApi } from './server.js';

const TOKEN = 'correct-horse-battery-staple';
const DB_POLICY: EscalationPolicy = {
  name: 'db',
  steps: [{ delayMs: 60_000, targets: [{ channel: 'db-pager' }] }],
  repeat: 0,
  ackTimeoutMs: 0,
};
const WEB_POLICY: EscalationPolicy = {
  name: 'web',
  steps: [{ delayMs: 60_000, targets: [{ user: 'ana' }] }],
  repeat: 0,
  ackTimeoutMs: 0,
};

/** A firing (or resolved) alert as Alertmanager posts it, matching `service="web"`. */
function payload(status: 'firing' | 'resolved', labels: Record<string, string> = {}) {
  const alert = {
    status,
    labels: { alertname: 'HighErrorRate', service: 'web', severity: 'critical', ...labels },
    annotations: { summary: '5xx  above 5%' },
    startsAt: '2026-11-26T11:08:05.649Z',
    endsAt: status === 'resolved' ? '2026-11-26T11:20:00Z' : '0001-01-01T00:00:00Z',
    fingerprint: labels.fp ?? 'a2af387933447b25',
  };
  return {
    version: '4',
    receiver: 'shipcheck',
    status,
    alerts: [alert],
    groupKey: '{}:{alertname="HighErrorRate"}',
  };
}

/** An engine that records what the webhook asked of it; nothing is active, so nothing rolls back. */
const quietEngine = {
  alertFired: async () => undefined,
  alertRecorded: async () => undefined,
} as unknown as Engine;

describe('Alertmanager alerts open and resolve incidents', () => {
  const closing: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closing.splice(0)) await close();
  });

  async function start(policies: EscalationPolicy[]) {
    const store = SqliteStore.open(':memory:');
    await store.migrate();
    const clock = new ManualClock();
    const incidents = new Incidents(contextOf(store, clock, policies));
    const target: AlertTarget = {
      unit: 'web',
      service: 'web',
      matchers: ['service="{{service}}"'],
      token: TOKEN,
    };
    const app = buildApi({
      engines: new Map([['web', quietEngine]]),
      store,
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      alerts: () => [target],
      incidents,
      escalationPolicies: () => policies.map((p) => p.name),
    });
    closing.push(async () => {
      await app.close();
      await store.close();
    });
    const post = async (body: unknown): Promise<AlertmanagerResult> => {
      const res = await app.inject({
        method: 'POST',
        url: ALERTMANAGER_PATH,
        headers: { authorization: `Bearer ${TOKEN}` },
        payload: body as Record<string, unknown>,
      });
      expect(res.statusCode).toBe(200);
      return res.json<AlertmanagerResult>();
    };
    return { store, post };
  }

  it('opens one incident per firing alert, paging the first policy, and resolves it with the alert', async () => {
    const { store, post } = await start([WEB_POLICY, DB_POLICY]);
    const fired = await post(payload('firing'));
    expect(fired.incidents?.opened).toHaveLength(1);
    const id = fired.incidents!.opened[0]!;
    expect(await store.incidents.get(id)).toMatchObject({
      key: 'alertmanager:a2af387933447b25',
      title: 'HighErrorRate: 5xx above 5%',
      severity: 'critical',
      source: 'alert',
      service: 'web',
      policy: 'web',
      state: 'triggered',
    });
    expect(await sent(store)).toEqual(['incident.triggered user:ana']);
    // A repeat is a duplicate: no second incident, no second entry.
    expect((await post(payload('firing'))).duplicates).toBe(1);
    const resolved = await post(payload('resolved'));
    expect(resolved.incidents).toEqual({ opened: [], resolved: [id] });
    expect(await store.incidents.get(id)).toMatchObject({ state: 'resolved', resolvedBy: 'alertmanager' });
    expect(await sent(store)).toEqual(['incident.triggered user:ana', 'incident.resolved user:ana']);
  });

  it('pages the policy an alert names, and maps a severity that is not ours to error', async () => {
    const { store, post } = await start([WEB_POLICY, DB_POLICY]);
    const fired = await post(payload('firing', { escalation_policy: 'db', severity: 'page', fp: 'b1' }));
    expect(await store.incidents.get(fired.incidents!.opened[0]!)).toMatchObject({
      policy: 'db',
      severity: 'error',
    });
  });

  it('opens no incident while the installation has no escalation policy', async () => {
    const { store, post } = await start([]);
    const fired = await post(payload('firing'));
    expect(fired.incidents).toBeUndefined();
    expect(fired.recorded).toBe(1);
    expect(await store.incidents.list()).toEqual([]);
  });
});
