import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  PG_URL,
  REQUIRE_REAL,
  probePostgres,
  testSchemas,
  unreachableMessage,
} from '../../../test/support/postgres.js';
import { PostgresStore } from '../../store/postgres/postgres-store.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { ManualClock } from '../../util/clock.js';
import { EscalationRunner } from './escalation.js';
import { contextOf, paging, runIncidentSuite, sent } from './incidents.case.js';
import { Incidents } from './incidents.js';

const MINUTE = 60_000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-incidents-'));
let files = 0;
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

runIncidentSuite('SQLite', async () => {
  const store = SqliteStore.open(path.join(dir, `state-${files++}.db`));
  await store.migrate();
  return store;
});

describe('escalation across a restart', () => {
  it('escalates an incident opened before the restart, reading only the store', async () => {
    const file = path.join(dir, 'restart.db');
    const clock = new ManualClock();
    const before = SqliteStore.open(file);
    await before.migrate();
    const incident = await new Incidents(contextOf(before, clock)).open(paging());
    await before.close();

    // A new process: a new store on the same file, a new runner; the old runner is gone.
    const after = SqliteStore.open(file);
    await after.migrate();
    const runner = new EscalationRunner(contextOf(after, clock));
    clock.advance(5 * MINUTE);
    expect(await runner.tick()).toBe(1);
    expect(await sent(after)).toEqual([
      'incident.triggered user:ana',
      'incident.triggered pagerduty',
      'incident.escalated user:bo',
    ]);
    expect((await after.incidents.get(incident.id))!.escalation.step).toBe(1);
    await after.close();
  });
});

describe('the escalation runner on its timer', () => {
  it('ticks by itself, and not after stop', async () => {
    const store = SqliteStore.open(path.join(dir, 'timer.db'));
    await store.migrate();
    const clock = new ManualClock();
    await new Incidents(contextOf(store, clock)).open(paging());
    const runner = new EscalationRunner({ ...contextOf(store, clock), intervalMs: 5 });
    clock.advance(5 * MINUTE);
    runner.start();
    await vi.waitFor(async () => expect(await sent(store)).toHaveLength(3), { timeout: 5000, interval: 10 });
    await runner.stop();
    clock.advance(10 * MINUTE);
    // Well past several intervals: a stopped runner does nothing more.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await sent(store)).toHaveLength(3);
    await store.close();
  });
});

const problem = await probePostgres();
const schemas = testSchemas('sc_incidents');
afterAll(() => (problem === undefined ? schemas.dropAll() : undefined));

describe.runIf(problem !== undefined && REQUIRE_REAL)('incidents on PostgreSQL (required)', () => {
  it('needs PostgreSQL because SHIPCHECK_REQUIRE_REAL=1', () => {
    throw new Error(unreachableMessage(problem));
  });
});

if (problem !== undefined && !REQUIRE_REAL) {
  console.warn(`SKIPPING incidents on PostgreSQL: ${unreachableMessage(problem)}`);
} else if (problem === undefined) {
  runIncidentSuite('PostgreSQL', async () => {
    const store = PostgresStore.open(PG_URL, { schema: await schemas.create() });
    await store.migrate();
    return store;
  });

  describe('escalation on replicas sharing PostgreSQL', () => {
    it('escalates each step once when two runners tick together', async () => {
      const schema = await schemas.create();
      const a = PostgresStore.open(PG_URL, { schema });
      const b = PostgresStore.open(PG_URL, { schema });
      await a.migrate();
      await b.migrate();
      try {
        const clock = new ManualClock();
        const runners = [
          new EscalationRunner(contextOf(a, clock)),
          new EscalationRunner(contextOf(b, clock)),
        ];
        // Both replicas open it: one incident.
        const [one, two] = await Promise.all([
          new Incidents(contextOf(a, clock)).open(paging()),
          new Incidents(contextOf(b, clock)).open(paging()),
        ]);
        expect(one.id).toBe(two.id);
        for (const delay of [5, 10, 5, 10]) {
          clock.advance(delay * MINUTE);
          const moved = await Promise.all([...runners, ...runners].map((r) => r.tick()));
          expect(moved.reduce((x, y) => x + y, 0)).toBe(1);
        }
        expect(await sent(a)).toEqual([
          'incident.triggered user:ana',
          'incident.triggered pagerduty',
          'incident.escalated user:bo',
          'incident.escalated user:ana',
          'incident.escalated pagerduty',
          'incident.escalated user:bo',
        ]);
        const timeline = await a.incidents.timeline(one.id);
        expect(timeline.filter((e) => e.kind === 'escalated' || e.kind === 'notified')).toHaveLength(5);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
}
