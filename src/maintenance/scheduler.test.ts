/**
 * The scheduler and its store part on SQLite and PostgreSQL, on an injected clock: items run when due,
 * a missed stretch runs once, an interrupted run runs again, "off" and time zones are honoured, failure
 * and recovery are told once each, and two schedulers on one PostgreSQL store never run a slot twice.
 * Checks are real `command` checks (`true`, `false`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { onEachStore } from '../../test/support/store-suites.js';
import { testContext } from '../../test/support/check-context.js';
import { checkKinds } from '../checklist/kinds/index.js';
import type { Store } from '../store/types.js';
import { ManualClock } from '../util/clock.js';
import type { ScheduledItem } from './scheduled-items.js';
import { type MaintenanceNotice, Scheduler, type SchedulerOptions, scheduleKey } from './scheduler.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Tuesday 2026-01-06 10:00:00 UTC. */
const START = Date.UTC(2026, 0, 6, 10, 0, 0);

function item(
  id: string,
  schedule: string | undefined,
  run: string,
  extra: Partial<ScheduledItem> = {},
): ScheduledItem {
  return {
    id: `maintenance/regular-checks/${id}`,
    section: 'Maintenance / Regular Checks',
    title: id,
    kind: 'command',
    params: { run },
    automated: true,
    hint: undefined,
    schedule,
    timezone: 'UTC',
    source: 'template',
    ...extra,
  };
}

function schedulerOn(
  store: Store,
  clock: ManualClock,
  items: ScheduledItem[],
  extra: Partial<SchedulerOptions> = {},
) {
  const notices: MaintenanceNotice[] = [];
  const scheduler = new Scheduler({
    unit: 'web',
    items,
    store,
    kinds: checkKinds(),
    clock,
    logger: pino({ level: 'silent' }),
    holder: `test-${Math.random().toString(16).slice(2, 8)}`,
    context: (version) => testContext({ version, fromVersion: null, clock }),
    notify: async (notice) => {
      notices.push(notice);
    },
    claimTtlMs: 30_000,
    ...extra,
  });
  return { scheduler, notices };
}

/** One tick, then the runs it started. */
async function tickAndWait(scheduler: Scheduler): Promise<void> {
  await scheduler.tick();
  await scheduler.idle();
}

function runSchedulerSuite(name: string, open: () => Promise<Store>): void {
  describe(`scheduled checks: ${name}`, () => {
    let store: Store;
    let clock: ManualClock;
    beforeEach(async () => {
      store = await open();
      clock = new ManualClock(START);
    });
    afterEach(async () => {
      await store.close();
    });

    it('runs an item when its slot comes, records it, and computes the next slot', async () => {
      const hourly = item('hourly', '0 * * * *', 'echo fine');
      const { scheduler } = schedulerOn(store, clock, [hourly]);
      await tickAndWait(scheduler);
      // Not due yet: the first slot is the next hour.
      expect(await store.maintenance.runs('web', hourly.id, 10)).toEqual([]);
      const row = await store.maintenance.item('web', hourly.id);
      expect(row).toMatchObject({ nextDueAt: START + HOUR, schedule: scheduleKey(hourly), claimedBy: null });

      clock.set(START + HOUR);
      await tickAndWait(scheduler);
      const runs = await store.maintenance.runs('web', hourly.id, 10);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({
        state: 'passed',
        trigger: 'schedule',
        by: null,
        slotAt: START + HOUR,
        kind: 'command',
        durationMs: 0,
      });
      expect(runs[0]?.evidence.output).toContain('fine');
      expect(await store.maintenance.item('web', hourly.id)).toMatchObject({
        nextDueAt: START + 2 * HOUR,
        lastState: 'passed',
        lastRunId: runs[0]?.id,
        claimedBy: null,
        failing: false,
      });
      // Ticking again within the hour runs nothing more.
      clock.advance(30 * MINUTE);
      await tickAndWait(scheduler);
      expect(await store.maintenance.runs('web', hourly.id, 10)).toHaveLength(1);
    });

    it('reads its rows only when something can be due, and at least every 30 seconds', async () => {
      const hourly = item('hourly', '0 * * * *', 'echo fine');
      const { scheduler } = schedulerOn(store, clock, [hourly]);
      let reads = 0;
      const items = store.maintenance.items.bind(store.maintenance);
      store.maintenance.items = (unit) => {
        reads++;
        return items(unit);
      };
      await tickAndWait(scheduler);
      expect(reads).toBe(1);
      // Quiet: nothing is due for an hour, so passes within 30 s read nothing.
      for (let i = 0; i < 5; i++) {
        clock.advance(5_000);
        await tickAndWait(scheduler);
      }
      expect(reads).toBe(1);
      clock.advance(5_000);
      await tickAndWait(scheduler);
      expect(reads).toBe(2);
      // The slot comes: it is read and run at once.
      clock.set(START + HOUR);
      await tickAndWait(scheduler);
      expect(await store.maintenance.runs('web', hourly.id, 10)).toHaveLength(1);
    });

    it('runs a stretch of missed slots once, at start, not once per slot', async () => {
      const hourly = item('hourly', '0 * * * *', 'true');
      const first = schedulerOn(store, clock, [hourly]).scheduler;
      await tickAndWait(first);
      // Down for five hours: a new scheduler (a restart) finds the slot missed.
      clock.set(START + 5 * HOUR + 10 * MINUTE);
      const { scheduler } = schedulerOn(store, clock, [hourly]);
      await tickAndWait(scheduler);
      await tickAndWait(scheduler);
      const runs = await store.maintenance.runs('web', hourly.id, 10);
      expect(runs).toHaveLength(1);
      expect(runs[0]?.slotAt).toBe(START + HOUR);
      expect((await store.maintenance.item('web', hourly.id))?.nextDueAt).toBe(START + 6 * HOUR);
    });

    it('records a run whose process died as interrupted once its claim lapses, and runs it again', async () => {
      const hourly = item('hourly', '0 * * * *', 'true');
      const before = schedulerOn(store, clock, [hourly]).scheduler;
      await tickAndWait(before);
      clock.set(START + HOUR);
      // What kill -9 leaves: the slot claimed, its run written as running, nothing running it.
      const row = await store.maintenance.item('web', hourly.id);
      const cut = await store.maintenance.claim(
        'web',
        hourly.id,
        {
          holder: 'gone',
          until: clock.now() + 30_000,
          slot: { seenDueAt: START + HOUR, nextDueAt: START + 2 * HOUR },
        },
        { kind: 'command', trigger: 'schedule', by: null, holder: 'gone', slotAt: row?.nextDueAt ?? 0 },
        clock.now(),
      );
      expect(cut?.state).toBe('running');

      const { scheduler } = schedulerOn(store, clock, [hourly]);
      clock.advance(10_000);
      await tickAndWait(scheduler);
      // The claim still holds: it may be a live replica.
      expect((await store.maintenance.runs('web', hourly.id, 10)).map((r) => r.state)).toEqual(['running']);

      clock.advance(30_000);
      await tickAndWait(scheduler);
      await tickAndWait(scheduler);
      const runs = await store.maintenance.runs('web', hourly.id, 10);
      expect(runs.map((r) => r.state)).toEqual(['passed', 'interrupted']);
      expect(runs[1]?.summary).toContain('interrupted');
      expect((await store.maintenance.item('web', hourly.id))?.nextDueAt).toBe(START + 2 * HOUR);
    });

    it('stops a run when the scheduler stops, and runs it again at the next start', async () => {
      const slow = item('slow', '0 * * * *', 'sleep 20');
      const first = schedulerOn(store, clock, [slow]).scheduler;
      await tickAndWait(first);
      clock.set(START + HOUR);
      await first.tick();
      await first.stop();
      expect((await store.maintenance.runs('web', slow.id, 10)).map((r) => r.state)).toEqual(['interrupted']);
      expect(await store.maintenance.item('web', slow.id)).toMatchObject({
        claimedBy: null,
        nextDueAt: START + HOUR,
      });
    });

    it('leaves an item an override turned off alone, and refuses to run it or a sign-off', async () => {
      const off = item('off', undefined, 'true', { source: 'override' });
      const signOff = item('sign-off', '0 * * * *', 'true', {
        automated: false,
        kind: 'manual',
        hint: 'look at it',
      });
      const { scheduler } = schedulerOn(store, clock, [off, signOff]);
      clock.advance(3 * HOUR);
      await tickAndWait(scheduler);
      expect(await store.maintenance.items('web')).toEqual([]);
      await expect(scheduler.runNow('off', 'ana')).rejects.toThrow(/turned off by maintenance.schedules/);
      await expect(scheduler.runNow('sign-off', 'ana')).rejects.toThrow(/sign-off.*look at it/);
      await expect(scheduler.runNow('nothing', 'ana')).rejects.toThrow(/no scheduled item "nothing"/);
      const listed = await scheduler.list();
      expect(listed.map((e) => [e.itemId.split('/').pop(), e.schedule, e.nextRunAt])).toEqual([
        ['off', null, null],
        ['sign-off', '0 * * * *', null],
      ]);
    });

    it('reads a schedule in its time zone', async () => {
      // 03:00 in Berlin is 02:00 UTC in January.
      const nightly = item('nightly', '0 3 * * *', 'true', { timezone: 'Europe/Berlin' });
      const { scheduler } = schedulerOn(store, clock, [nightly]);
      await tickAndWait(scheduler);
      expect((await store.maintenance.item('web', nightly.id))?.nextDueAt).toBe(
        Date.UTC(2026, 0, 7, 2, 0, 0),
      );
      // A changed zone recomputes the next slot.
      const utc = schedulerOn(store, clock, [{ ...nightly, timezone: 'UTC' }]).scheduler;
      await tickAndWait(utc);
      expect((await store.maintenance.item('web', nightly.id))?.nextDueAt).toBe(
        Date.UTC(2026, 0, 7, 3, 0, 0),
      );
    });

    it('tells the owners once when an item turns failed and once when it recovers', async () => {
      const marker = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sc-sched-')), 'ok');
      const flaky = item('flaky', '*/10 * * * *', `test -e ${marker}`);
      const { scheduler, notices } = schedulerOn(store, clock, [flaky]);
      await tickAndWait(scheduler);
      for (let i = 1; i <= 3; i++) {
        clock.set(START + i * 10 * MINUTE);
        await tickAndWait(scheduler);
      }
      expect((await store.maintenance.runs('web', flaky.id, 10)).map((r) => r.state)).toEqual([
        'failed',
        'failed',
        'failed',
      ]);
      expect(notices.map((n) => n.state)).toEqual(['failed']);
      expect(await scheduler.failingCount()).toBe(1);
      fs.writeFileSync(marker, '');
      const manual = await scheduler.runNow('flaky', 'ana');
      expect(manual).toMatchObject({ state: 'passed', trigger: 'manual', by: 'ana', slotAt: null });
      expect(notices.map((n) => n.state)).toEqual(['failed', 'recovered']);
      expect(await scheduler.failingCount()).toBe(0);
      const [entry] = await scheduler.list();
      expect(entry).toMatchObject({
        failing: false,
        last: { state: 'passed', by: 'ana' },
        nextRunAt: START + 40 * MINUTE,
      });
    });

    it('keeps the last runs of an item', async () => {
      const often = item('often', '* * * * *', 'true');
      const { scheduler } = schedulerOn(store, clock, [often], { keepRuns: 3 });
      await tickAndWait(scheduler);
      for (let i = 1; i <= 5; i++) {
        clock.set(START + i * MINUTE);
        await tickAndWait(scheduler);
      }
      const runs = await store.maintenance.runs('web', often.id, 10);
      expect(runs.map((r) => r.slotAt)).toEqual([START + 5 * MINUTE, START + 4 * MINUTE, START + 3 * MINUTE]);
    });

    it('acts only while the lease is held', async () => {
      const hourly = item('hourly', '0 * * * *', 'true');
      const lease = { held: false, confirm: async () => lease.held };
      const { scheduler } = schedulerOn(store, clock, [hourly], { lease });
      clock.set(START + 2 * HOUR);
      await tickAndWait(scheduler);
      expect(await store.maintenance.items('web')).toEqual([]);
      lease.held = true;
      await tickAndWait(scheduler);
      clock.set(START + 3 * HOUR);
      await tickAndWait(scheduler);
      expect(await store.maintenance.runs('web', hourly.id, 10)).toHaveLength(1);
    });
  });
}

const postgres = await onEachStore('scheduled checks', 'sc-sched', runSchedulerSuite);

describe.runIf(postgres !== undefined)('two schedulers on one PostgreSQL store', () => {
  it('never run a slot twice', async () => {
    const schema = await postgres!.schema();
    const [a, b] = [await postgres!.open(schema), await postgres!.open(schema)];
    try {
      const clock = new ManualClock(START);
      const items = [item('one', '* * * * *', 'true'), item('two', '*/2 * * * *', 'true')];
      const first = schedulerOn(a, clock, items).scheduler;
      const second = schedulerOn(b, clock, items).scheduler;
      await Promise.all([tickAndWait(first), tickAndWait(second)]);
      for (let i = 1; i <= 10; i++) {
        clock.set(START + i * MINUTE);
        await Promise.all([tickAndWait(first), tickAndWait(second), tickAndWait(first)]);
      }
      const one = await a.maintenance.runs('web', items[0]?.id ?? '', 50);
      const two = await a.maintenance.runs('web', items[1]?.id ?? '', 50);
      expect(one.map((r) => r.slotAt)).toEqual(
        Array.from({ length: 10 }, (_, i) => START + (10 - i) * MINUTE),
      );
      expect(two.map((r) => r.slotAt)).toEqual(
        Array.from({ length: 5 }, (_, i) => START + (10 - 2 * i) * MINUTE),
      );
      expect(new Set([...one, ...two].map((r) => r.state))).toEqual(new Set(['passed']));
    } finally {
      await a.close();
      await b.close();
    }
  });
});
