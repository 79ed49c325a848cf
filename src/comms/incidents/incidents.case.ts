/**
 * The incident suite every store runs (SQLite and PostgreSQL): the store's rules, the service's,
 * and escalation on a ManualClock.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, InputError, NotFoundError } from '../../errors.js';
import type { NotificationRow } from '../../store/notification-store.js';
import type { Store } from '../../store/types.js';
import { ManualClock } from '../../util/clock.js';
import type { Destination, EscalationPolicy } from '../types.js';
import { EscalationRunner, type IncidentContext } from './escalation.js';
import { Incidents, type OpenIncident } from './incidents.js';

const MINUTE = 60_000;

/** Two steps (a user and a channel, then whoever the `secondary` schedule has), run twice, 30 minutes to resolve after an ack. */
export const POLICY: EscalationPolicy = {
  name: 'web-oncall',
  steps: [
    { delayMs: 5 * MINUTE, targets: [{ user: 'ana' }, { channel: 'pagerduty' }] },
    { delayMs: 10 * MINUTE, targets: [{ schedule: 'secondary' }] },
  ],
  repeat: 1,
  ackTimeoutMs: 30 * MINUTE,
};

/** Users on call by schedule, for the tests' resolver. */
const SCHEDULES = new Map([['secondary', ['bo']]]);

/** Users as they are, channels as they are, schedules through SCHEDULES. */
export async function resolveTargets(policy: EscalationPolicy, stepIndex: number): Promise<Destination[]> {
  return (policy.steps[stepIndex]?.targets ?? []).flatMap((t): Destination[] =>
    'user' in t
      ? [{ user: t.user }]
      : 'channel' in t
        ? [{ channel: t.channel }]
        : (SCHEDULES.get(t.schedule) ?? []).map((user) => ({ user })),
  );
}

/** The context a service and a runner share, on `store` and `clock`. */
export function contextOf(store: Store, clock: ManualClock, policies = [POLICY]): IncidentContext {
  return {
    store,
    clock,
    policies: () => policies,
    resolveTargets,
    urlOf: (id) => `http://shipcheck.test/incidents/${id}`,
  };
}

/** Every notification written, oldest first, as `event channel`. */
export async function sent(store: Store): Promise<string[]> {
  const rows: NotificationRow[] = await store.notifications.list({ limit: 1000 });
  return rows.reverse().map((r) => `${r.notice.event} ${r.channel}`);
}

/** A manual incident paging POLICY. */
export function paging(key = 'db-down', extra: Partial<OpenIncident> = {}): OpenIncident {
  return {
    key,
    title: 'Database down',
    severity: 'critical',
    source: 'manual',
    policy: POLICY.name,
    ...extra,
  };
}

/** Runs the suite on the stores `open` makes. */
export function runIncidentSuite(name: string, open: () => Promise<Store>): void {
  describe(`incidents on ${name}`, () => {
    let store: Store;
    let clock: ManualClock;
    let incidents: Incidents;
    let runner: EscalationRunner;

    beforeEach(async () => {
      store = await open();
      clock = new ManualClock();
      incidents = new Incidents(contextOf(store, clock));
      runner = new EscalationRunner(contextOf(store, clock));
    });
    afterEach(async () => {
      await runner.stop();
      await store.close();
    });

    it('opens one incident per open key, adds a second trigger to its timeline, and opens anew once resolved', async () => {
      const first = await incidents.open({ key: 'k', title: 'Slow', severity: 'warning', source: 'alert' });
      const again = await incidents.open({
        key: 'k',
        title: 'Slow again',
        severity: 'critical',
        source: 'alert',
        message: 'still slow',
      });
      expect(again.id).toBe(first.id);
      expect(again.title).toBe('Slow');
      const { timeline } = await incidents.get(first.id);
      expect(timeline.map((e) => [e.kind, e.message])).toEqual([
        ['triggered', 'opened: Slow'],
        ['triggered', 'triggered again: still slow'],
      ]);
      await incidents.resolve(first.id, 'ana');
      const next = await incidents.open({ key: 'k', title: 'Slow', severity: 'warning', source: 'alert' });
      expect(next.id).not.toBe(first.id);
      expect(next.state).toBe('triggered');
    });

    it('keeps every field, and lists newest first by state and service', async () => {
      const a = await incidents.open(
        {
          key: 'a',
          title: 'A',
          severity: 'info',
          source: 'rollback',
          service: 'web@production',
          releaseId: 7,
          public: true,
        },
        'ana',
      );
      const b = await incidents.open({ key: 'b', title: 'B', severity: 'error', source: 'manual' }, 'bo');
      expect(a).toMatchObject({
        key: 'a',
        title: 'A',
        severity: 'info',
        state: 'triggered',
        source: 'rollback',
        service: 'web@production',
        releaseId: 7,
        policy: null,
        public: true,
        createdAt: clock.now(),
      });
      expect(a.escalation.nextAt).toBeNull();
      await incidents.acknowledge(b.id, 'bo');
      expect((await incidents.list()).map((i) => i.id)).toEqual([b.id, a.id]);
      expect((await incidents.list({ state: 'acknowledged' })).map((i) => i.id)).toEqual([b.id]);
      expect((await incidents.list({ service: 'web@production' })).map((i) => i.id)).toEqual([a.id]);
      expect((await incidents.list({ public: true })).map((i) => i.id)).toEqual([a.id]);
      expect((await incidents.list({ limit: 1 })).map((i) => i.id)).toEqual([b.id]);
      // The unit's event stream hears of it.
      const events = await store.listEvents({ service: 'web@production', limit: 100 });
      expect(events.map((e) => e.type)).toContain('incident.triggered');
    });

    it('pages the first step at trigger, with the dedup key on every notice', async () => {
      const incident = await incidents.open(paging());
      expect(await sent(store)).toEqual(['incident.triggered user:ana', 'incident.triggered pagerduty']);
      const [row] = await store.notifications.list({ channel: 'pagerduty' });
      expect(row!.notice.incident).toEqual({ id: incident.id, key: 'db-down', state: 'triggered' });
      expect(row!.key).toBe(`incident:${incident.id}:esc:0:0:0:pagerduty`);
      expect(incident.escalation).toMatchObject({ step: 0, round: 0, nextAt: clock.now() + 5 * MINUTE });
      expect(incident.paged).toEqual([{ user: 'ana' }, { channel: 'pagerduty' }]);
    });

    it('escalates to the second step when nobody acknowledges within the step delay', async () => {
      const incident = await incidents.open(paging());
      clock.advance(5 * MINUTE - 1);
      expect(await runner.tick()).toBe(0);
      clock.advance(1);
      expect(await runner.tick()).toBe(1);
      expect((await sent(store)).slice(2)).toEqual(['incident.escalated user:bo']);
      const { incident: now, timeline } = await incidents.get(incident.id);
      expect(now.escalation).toMatchObject({ step: 1, round: 0 });
      expect(timeline.at(-1)).toMatchObject({
        kind: 'escalated',
        actor: 'shipcheck',
        message: 'escalated to step 2 of 2 of policy "web-oncall": user:bo',
      });
    });

    it('stops escalating on ack, tells everyone paged, and resumes from the first step when the ack times out', async () => {
      const incident = await incidents.open(paging());
      clock.advance(5 * MINUTE);
      await runner.tick();
      clock.advance(MINUTE);
      const acked = await incidents.acknowledge(incident.id, 'bo');
      expect(acked).toMatchObject({
        state: 'acknowledged',
        acknowledgedBy: 'bo',
        acknowledgedAt: clock.now(),
      });
      expect((await sent(store)).slice(3)).toEqual([
        'incident.acknowledged user:ana',
        'incident.acknowledged pagerduty',
        'incident.acknowledged user:bo',
      ]);
      // Acknowledging again changes nothing.
      expect((await incidents.acknowledge(incident.id, 'ana')).acknowledgedBy).toBe('bo');
      clock.advance(30 * MINUTE - 1);
      expect(await runner.tick()).toBe(0);
      expect(await sent(store)).toHaveLength(6);
      clock.advance(1);
      expect(await runner.tick()).toBe(1);
      const { incident: again, timeline } = await incidents.get(incident.id);
      expect(again).toMatchObject({ state: 'triggered', acknowledgedBy: null });
      expect(again.escalation).toMatchObject({
        step: 0,
        round: 0,
        cycle: 1,
        nextAt: clock.now() + 5 * MINUTE,
      });
      expect((await sent(store)).slice(6)).toEqual([
        'incident.triggered user:ana',
        'incident.triggered pagerduty',
      ]);
      expect(timeline.map((e) => e.kind)).toEqual([
        'triggered',
        'notified',
        'escalated',
        'acknowledged',
        'reopened',
        'notified',
      ]);
    });

    it('runs the policy repeat+1 times, then records that escalation is exhausted', async () => {
      const incident = await incidents.open(paging());
      for (const delay of [5, 10, 5, 10]) {
        clock.advance(delay * MINUTE);
        expect(await runner.tick()).toBe(1);
      }
      expect(await sent(store)).toEqual([
        'incident.triggered user:ana',
        'incident.triggered pagerduty',
        'incident.escalated user:bo',
        'incident.escalated user:ana',
        'incident.escalated pagerduty',
        'incident.escalated user:bo',
      ]);
      const { incident: done, timeline } = await incidents.get(incident.id);
      expect(done.escalation).toMatchObject({ exhausted: true, nextAt: null, round: 1, step: 1 });
      expect(timeline.at(-1)!.message).toBe(
        'escalation exhausted: nobody acknowledged after 2 runs of policy "web-oncall"',
      );
      clock.advance(60 * MINUTE);
      expect(await runner.tick()).toBe(0);
      expect(await sent(store)).toHaveLength(6);
    });

    it('stops everything on resolve and tells everyone paged; a resolved incident cannot be acked or resolved again', async () => {
      const incident = await incidents.open(paging());
      clock.advance(5 * MINUTE);
      await runner.tick();
      const resolved = await incidents.resolve(incident.id, 'ana', 'failed over');
      expect(resolved).toMatchObject({ state: 'resolved', resolvedBy: 'ana', resolvedAt: clock.now() });
      expect((await sent(store)).slice(3)).toEqual([
        'incident.resolved user:ana',
        'incident.resolved pagerduty',
        'incident.resolved user:bo',
      ]);
      clock.advance(120 * MINUTE);
      expect(await runner.tick()).toBe(0);
      await expect(incidents.acknowledge(incident.id, 'bo')).rejects.toThrow(
        new ConflictError(`incident #${incident.id} is resolved; it cannot be acknowledged`),
      );
      await expect(incidents.resolve(incident.id, 'bo')).rejects.toBeInstanceOf(ConflictError);
      expect((await incidents.get(incident.id)).timeline.at(-1)).toMatchObject({
        kind: 'resolved',
        message: 'failed over',
        actor: 'ana',
      });
    });

    it('adds notes that may change severity and the public flag, and keeps a postmortem', async () => {
      const incident = await incidents.open(paging());
      const noted = await incidents.update(incident.id, 'ana', {
        message: 'looking',
        severity: 'warning',
        public: true,
      });
      expect(noted).toMatchObject({ severity: 'warning', public: true });
      const done = await incidents.postmortem(incident.id, 'ana', 'Disk filled up.');
      expect(done.postmortem).toBe('Disk filled up.');
      const kinds = (await incidents.get(incident.id)).timeline.map((e) => [e.kind, e.message]);
      expect(kinds.slice(-2)).toEqual([
        ['note', 'looking'],
        ['postmortem', 'Disk filled up.'],
      ]);
    });

    it('refuses unknown ids, empty words, unknown severities and unknown policies', async () => {
      await expect(incidents.acknowledge(999, 'ana')).rejects.toThrow(
        new NotFoundError('incident #999 not found'),
      );
      await expect(incidents.get(999)).rejects.toBeInstanceOf(NotFoundError);
      await expect(incidents.open(paging('k', { title: ' ' }))).rejects.toBeInstanceOf(InputError);
      await expect(incidents.open(paging('k', { severity: 'bad' as never }))).rejects.toThrow(
        'severity "bad" is not one of critical, error, warning, info',
      );
      await expect(incidents.open(paging('k', { policy: 'nope' }))).rejects.toThrow(
        'escalation policy "nope" is not configured; the installation has "web-oncall"',
      );
      const incident = await incidents.open(paging());
      await expect(incidents.update(incident.id, 'ana', { message: '' })).rejects.toBeInstanceOf(InputError);
    });

    it('applies one of two racing acks, and one of two runners acting on the same timer', async () => {
      const incident = await incidents.open(paging());
      clock.advance(5 * MINUTE);
      const other = new EscalationRunner(contextOf(store, clock));
      const moved = await Promise.all([runner.tick(), other.tick(), runner.tick()]);
      expect(moved.reduce((a, b) => a + b, 0)).toBe(1);
      const acks = await Promise.all([
        incidents.acknowledge(incident.id, 'ana'),
        incidents.acknowledge(incident.id, 'bo'),
      ]);
      expect(acks.map((a) => a.state)).toEqual(['acknowledged', 'acknowledged']);
      const { timeline } = await incidents.get(incident.id);
      expect(timeline.filter((e) => e.kind === 'escalated')).toHaveLength(1);
      expect(timeline.filter((e) => e.kind === 'acknowledged')).toHaveLength(1);
      expect((await sent(store)).filter((s) => s.startsWith('incident.escalated'))).toHaveLength(1);
    });

    it('opens the incident when the first page fails, and the runner pages it on its next tick', async () => {
      let failing = true;
      const flaky = {
        ...contextOf(store, clock),
        resolveTargets: async (policy: EscalationPolicy, step: number) => {
          if (failing) throw new Error('schedule service down');
          return resolveTargets(policy, step);
        },
      };
      const incident = await new Incidents(flaky).open(paging());
      expect(incident).toMatchObject({ state: 'triggered', escalation: { step: -1, nextAt: clock.now() } });
      expect(await sent(store)).toEqual([]);
      failing = false;
      expect(await new EscalationRunner(flaky).tick()).toBe(1);
      expect(await sent(store)).toEqual(['incident.triggered user:ana', 'incident.triggered pagerduty']);
    });

    it('records that nobody is paged when the policy is gone', async () => {
      const gone = new Incidents(contextOf(store, clock));
      const incident = await gone.open(paging());
      const without = new EscalationRunner(contextOf(store, clock, []));
      clock.advance(5 * MINUTE);
      expect(await without.tick()).toBe(1);
      const { incident: now, timeline } = await incidents.get(incident.id);
      expect(now.escalation.nextAt).toBeNull();
      expect(timeline.at(-1)!.message).toBe(
        'escalation policy "web-oncall" is not configured; nobody was paged',
      );
    });
  });
}
