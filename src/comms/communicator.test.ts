import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { communicationSchema } from '../config/communication-schema.js';
import { statusPageSchema } from '../config/status-page-schema.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { EventRow, Store } from '../store/types.js';
import { ManualClock } from '../util/clock.js';
import { Communicator } from './communicator.js';
import type { IncidentContext } from './incidents/escalation.js';
import { Incidents } from './incidents/incidents.js';
import { StatusPage } from './status-page/status-page.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-communicator-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;

const policy = communicationSchema.parse({
  notify: { rolledBack: ['chat'] },
  incident: { monitorFor: '10s' },
});

interface Rig {
  store: Store;
  clock: ManualClock;
  incidents: Incidents;
  page: StatusPage;
  communicator: Communicator;
  event(type: string, data?: Record<string, unknown>, message?: string): EventRow;
  component(): Promise<{ status: string; override: { reason: string | null } | null }>;
}

async function rig(): Promise<Rig> {
  const store = SqliteStore.open(path.join(dir, `state-${n++}.db`));
  await store.migrate();
  const clock = new ManualClock(Date.parse('2026-12-06T10:00:00Z'));
  const context: IncidentContext = { store, clock, policies: () => [], resolveTargets: async () => [] };
  const incidents = new Incidents(context);
  const config = statusPageSchema.parse({
    name: 'Example',
    components: [{ name: 'Web', services: ['web'] }],
  })!;
  const page = new StatusPage({
    config,
    store,
    clock,
    units: async () => [{ unit: 'web', stable: ['ready', 'ready'], canary: [], release: null }],
    pageUrl: () => 'http://127.0.0.1:7070/status',
  });
  const communicator = new Communicator({ store, clock, incidents, statusPage: () => page });
  context.onResolved = (incident, message) => communicator.incidentResolved(incident, message);
  context.onPublic = (incident, message) => communicator.incidentPublic(incident, message);
  let id = 0;
  return {
    store,
    clock,
    incidents,
    page,
    communicator,
    event: (type, data = {}, message = type) => ({
      id: ++id,
      service: 'web',
      releaseId: 4,
      at: clock.now(),
      type,
      message,
      data: { version: 'v4', state: 'progressing', ...data },
    }),
    component: async () => (await page.components())[0]!,
  };
}

describe('Communicator', () => {
  let r: Rig;
  beforeEach(async () => {
    r = await rig();
  });

  it('opens the rollback incident with a linked page incident and a degraded component, monitors it, then resolves both', async () => {
    // When v4 is rolled back automatically
    await r.communicator.communicate(
      'web',
      policy,
      r.event('release.rolling_back', { outcome: 'rolled_back' }, 'error_rate 30% > 5%'),
    );
    // Then an incident is open, linked on the status page, and the component is degraded
    const [incident] = await r.incidents.list({});
    expect(incident).toMatchObject({
      key: 'rollback:web#4',
      state: 'triggered',
      source: 'rollback',
      public: true,
    });
    const [linked] = await r.page.incidentsLinkedTo(incident!.id);
    expect(linked).toMatchObject({
      name: 'web: release v4 rolled back automatically',
      status: 'investigating',
    });
    expect(await r.component()).toMatchObject({ status: 'degraded_performance' });
    // Acting on the same event again changes nothing
    await r.communicator.communicate(
      'web',
      policy,
      r.event('release.rolling_back', { outcome: 'rolled_back' }),
    );
    expect(await r.incidents.list({})).toHaveLength(1);
    expect(await r.page.incidentsLinkedTo(incident!.id)).toHaveLength(1);

    // When the rollback is verified, the page says monitoring and the incident stays open
    await r.communicator.communicate(
      'web',
      policy,
      r.event('release.rolled_back', {}, 'v4 rolled back: why'),
    );
    expect((await r.page.incidentsLinkedTo(incident!.id))[0]).toMatchObject({ status: 'monitoring' });
    expect((await r.incidents.get(incident!.id))?.incident.state).toBe('triggered');
    expect(await r.incidents.resolveDue()).toBe(0);
    // And the chat channel heard of the rollback
    expect((await r.store.notifications.list()).map((row) => row.channel)).toContain('chat');

    // Once monitored for 10 s, both resolve and the component shows its derived status again
    r.clock.advance(10_000);
    expect(await r.incidents.resolveDue()).toBe(1);
    expect((await r.incidents.get(incident!.id))?.incident).toMatchObject({
      state: 'resolved',
      resolvedBy: 'shipcheck',
    });
    expect((await r.page.incidentsLinkedTo(incident!.id))[0]).toMatchObject({ status: 'resolved' });
    expect(await r.component()).toMatchObject({ status: 'operational', override: null });
  });

  it('leaves a person’s own override in place when the incident resolves', async () => {
    await r.communicator.communicate(
      'web',
      policy,
      r.event('release.rolling_back', { outcome: 'rolled_back' }),
    );
    await r.page.setOverride('Web', { status: 'major_outage', reason: 'data centre fire', by: 'ana' });
    const [incident] = await r.incidents.list({});
    await r.incidents.resolve(incident!.id, 'ana', 'fixed by hand');
    expect((await r.page.incidentsLinkedTo(incident!.id))[0]).toMatchObject({ status: 'resolved' });
    expect(await r.component()).toMatchObject({
      status: 'major_outage',
      override: { reason: 'data centre fire' },
    });
  });

  it('shows a public incident opened by hand on the page, and one made public later, each once', async () => {
    const opened = await r.incidents.open(
      {
        key: 'manual:1',
        title: 'Checkout slow',
        severity: 'error',
        source: 'manual',
        service: 'web',
        public: true,
      },
      'ana',
    );
    const [linked] = await r.page.incidentsLinkedTo(opened.id);
    expect(linked).toMatchObject({
      name: 'Checkout slow',
      impact: 'minor',
      components: [expect.any(String)],
    });
    const quiet = await r.incidents.open(
      { key: 'manual:2', title: 'Internal only', severity: 'warning', source: 'manual' },
      'ana',
    );
    expect(await r.page.incidentsLinkedTo(quiet.id)).toEqual([]);
    await r.incidents.update(quiet.id, 'ana', { message: 'customers notice it now', public: true });
    await r.incidents.update(quiet.id, 'ana', { message: 'an internal note' });
    const shown = await r.page.incidentsLinkedTo(quiet.id);
    expect(shown).toHaveLength(1);
    expect(shown[0]!.updates.map((u) => u.body)).toEqual(['customers notice it now']);
  });

  it('shows migrations as a maintenance in progress until they end', async () => {
    await r.communicator.communicate('web', policy, r.event('release.migrating'));
    await r.communicator.communicate('web', policy, r.event('release.migrating'));
    expect(await r.component()).toMatchObject({ status: 'under_maintenance' });
    await r.communicator.communicate('web', policy, r.event('release.migrated', {}, 'applied 1 migration'));
    expect(await r.component()).toMatchObject({ status: 'operational' });
  });
});
