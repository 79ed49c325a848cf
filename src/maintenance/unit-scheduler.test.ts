import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testContext } from '../../test/support/check-context.js';
import type { ChecklistRunner } from '../checklist/checklist-runner.js';
import { checkKinds } from '../checklist/kinds/index.js';
import type { ResolvedItem } from '../checklist/template-types.js';
import { loadConfig } from '../config/loader.js';
import type { Config } from '../config/schema.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { ReleaseRow } from '../store/types.js';
import { ManualClock } from '../util/clock.js';
import { createUnitScheduler, maintenanceTargets } from './unit-scheduler.js';

function config(
  notify: Config['maintenance']['notify'],
  catalog?: Partial<NonNullable<Config['catalog']>>,
): Pick<Config, 'maintenance' | 'catalog'> {
  return {
    maintenance: { certMinDays: 21, timezone: 'UTC', schedules: {}, notify },
    catalog:
      catalog === undefined
        ? undefined
        : { dependencies: [], dataFlows: [], runbooks: [], contacts: [], ...catalog },
  };
}

describe('who hears of a failing scheduled item', () => {
  it('is maintenance.notify when it names anyone, whatever the catalog says', () => {
    const targets = maintenanceTargets(
      config([{ channel: 'ops' }], { owner: 'ana', contacts: [{ schedule: 'primary' }] }),
    );
    expect(targets).toEqual([{ channel: 'ops' }]);
  });

  it("is the catalog's owner and contacts, each once, when maintenance.notify is empty", () => {
    const targets = maintenanceTargets(
      config([], { owner: 'ana', contacts: [{ schedule: 'primary' }, { user: 'ana' }, { user: 'bo' }] }),
    );
    expect(targets).toEqual([{ user: 'ana' }, { schedule: 'primary' }, { user: 'bo' }]);
  });

  it('is nobody when neither names anyone', () => {
    expect(maintenanceTargets(config([]))).toEqual([]);
    expect(maintenanceTargets(config([], {}))).toEqual([]);
  });
});

describe("a unit's scheduler without maintenance.notify", () => {
  let dir: string;
  let store: SqliteStore;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'shipcheck-unit-scheduler-'));
    store = SqliteStore.open(path.join(dir, 'state.db'));
    await store.migrate();
  });

  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("queues the failure of a scheduled item to the catalog's owner and contacts", async () => {
    const file = path.join(dir, 'shipcheck.yaml');
    await writeFile(
      file,
      'service: web\nfleet: { kind: local, command: node app.js }\n' +
        'catalog: { owner: ana, contacts: [{ schedule: primary }] }\n',
    );
    const { config } = await loadConfig(file);
    const clock = new ManualClock(Date.UTC(2026, 0, 6, 10, 0, 0));
    const asked: unknown[] = [];
    const item: ResolvedItem = {
      id: 'maintenance/regular-checks/disk-smoke',
      section: 'Maintenance / Regular Checks',
      title: 'Disk smoke test',
      kind: 'command',
      gate: 'scheduled',
      params: { run: 'exit 3' },
      schedule: '* * * * *',
      automated: true,
    } as ResolvedItem;
    const scheduler = createUnitScheduler({
      unit: 'web',
      config,
      items: [item],
      store,
      kinds: checkKinds(),
      clock,
      logger: pino({ level: 'silent' }),
      holder: 'local',
      lease: undefined,
      // Only its context is asked for: the context a release's check would get, for the stable version.
      runner: {
        contextOf: (release: ReleaseRow) =>
          testContext({ version: release.version, fromVersion: null, clock }),
      } as unknown as ChecklistRunner,
      resolveTargets: async (policy) => {
        const targets = policy.steps[0]?.targets ?? [];
        asked.push(targets);
        return targets.flatMap((t) => ('user' in t ? [{ user: t.user }] : [{ user: 'on-call-bo' }]));
      },
    });
    // The first look sets the next slot, a minute on; at that slot the item runs and fails
    await scheduler.tick();
    clock.advance(60_000);
    await scheduler.tick();
    await scheduler.idle();
    expect(asked).toEqual([[{ user: 'ana' }, { schedule: 'primary' }]]);
    const queued = await store.notifications.list();
    expect(
      queued.map((row) => row.to).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ).toEqual([{ user: 'ana' }, { user: 'on-call-bo' }]);
  });
});
