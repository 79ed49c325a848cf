import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StatusPage } from '../../comms/status-page/status-page.js';
import { configSchema } from '../../config/schema.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { ManualClock } from '../../util/clock.js';
import { testContext } from '../../../test/support/check-context.js';
import { statusPageCheck } from './status-page.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-status-page-kind-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const config = configSchema.parse({
  service: 'web',
  fleet: { kind: 'local', command: 'true' },
  statusPage: {
    name: 'Example',
    components: [
      { name: 'Shop', services: ['web'] },
      { name: 'API', services: ['api'] },
    ],
  },
});
const run = (params: object, overrides: Parameters<typeof testContext>[0] = {}) =>
  statusPageCheck.run(statusPageCheck.params.parse(params), testContext({ config, ...overrides }));

describe('the status-page check', () => {
  it('is inconclusive without a status page, and fails for a unit on no component', async () => {
    expect(
      await run(
        {},
        { config: configSchema.parse({ service: 'web', fleet: { kind: 'local', command: 'true' } }) },
      ),
    ).toMatchObject({
      ok: false,
      inconclusive: true,
      summary: 'no statusPage is configured',
    });
    expect(await run({ check: 'listed' }, { service: 'jobs' })).toMatchObject({
      ok: false,
      summary: 'jobs is on no status page component; name it in statusPage.components[].services',
    });
    expect(await run({ check: 'listed' }, { unit: 'web@production' })).toMatchObject({
      ok: true,
      summary: 'web@production is shown on the status page as Shop',
    });
  });

  it('holds for a person while a maintenance or an incident of the unit is open on the page, and passes once they are over', async () => {
    const store = SqliteStore.open(path.join(dir, 'state.db'));
    await store.migrate();
    try {
      const clock = new ManualClock(Date.parse('2026-12-06T10:00:00Z'));
      const page = new StatusPage({
        config: config.statusPage!,
        store,
        clock,
        units: async () => [],
        pageUrl: () => 'http://127.0.0.1:7070/status',
      });
      expect(await run({}, { store })).toMatchObject({
        ok: true,
        summary: 'nothing is left open on the status page for Shop',
      });
      const maintenance = await page.scheduleMaintenance({
        name: 'Database upgrade',
        components: ['Shop'],
        scheduledFor: clock.now(),
        scheduledUntil: clock.now() + 3600_000,
      });
      await page.updateMaintenance(maintenance.publicId, { status: 'in_progress' });
      await page.openIncident({ name: 'API slow', body: 'looking', components: ['API'] });
      const held = await run({}, { store });
      expect(held).toMatchObject({
        ok: false,
        inconclusive: true,
        summary: 'still open on the status page for Shop: maintenance "Database upgrade" (in_progress)',
      });
      await page.updateMaintenance(maintenance.publicId, { status: 'completed' });
      expect(await run({}, { store })).toMatchObject({ ok: true });
    } finally {
      await store.close();
    }
  });
});
