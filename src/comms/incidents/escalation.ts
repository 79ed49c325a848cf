/**
 * Escalation with durable timers. The incident's row holds where escalation stands (step, round,
 * cycle, `next_escalation_at`); the runner reads only the store, so escalation survives a restart and
 * any replica may run it. Each move is a compare-and-set on (id, state, step, round, cycle,
 * next_escalation_at): of two replicas acting on one timer, one wins and the other writes nothing.
 * Notifications are written before the move, under keys made of incident, cycle, round and step, so
 * the loser's (or a retry's) notifications are the same rows and are dropped.
 */
import type { Logger } from 'pino';
import type { Store } from '../../store/types.js';
import type { Clock } from '../../util/clock.js';
import { errorMessage } from '../../errors.js';
import type { EscalationPolicy } from '../types.js';
import { describeDestinations, enqueueNotice, incidentNotice, unionOf } from './notices.js';
import type { Incident, ResolveTargets } from './types.js';

/** The actor escalation writes in timelines. */
export const ESCALATION_ACTOR = 'shipcheck';
/** How often `shipcheck up` looks for due escalations. */
export const ESCALATION_INTERVAL_MS = 1000;
/** Incidents one tick handles at most; the rest wait for the next. */
const TICK_LIMIT = 100;

/** What escalation (and the incident service) works with. */
export interface IncidentContext {
  store: Pick<Store, 'incidents' | 'notifications' | 'addEvent'>;
  clock: Clock;
  /** The installation's escalation policies now (a reload may change them). */
  policies: () => readonly EscalationPolicy[];
  resolveTargets: ResolveTargets;
  /** The dashboard link of an incident, for notices; none when omitted. */
  urlOf?: (id: number) => string | undefined;
  /** Told when an incident opens public or is made public (the status page shows it). */
  onPublic?: (incident: Incident, message: string) => Promise<void>;
  /** Told after an incident is resolved, whoever resolved it (the status page resolves what it linked). */
  onResolved?: (incident: Incident, message: string) => Promise<void>;
}

/** The step and round after (`step`, `round`), or undefined when the policy is exhausted. Step -1: nothing paged yet. */
export function nextPosition(
  policy: EscalationPolicy,
  step: number,
  round: number,
): { step: number; round: number } | undefined {
  if (step + 1 < policy.steps.length) return { step: step + 1, round };
  if (round < policy.repeat) return { step: 0, round: round + 1 };
  return undefined;
}

/** The policy named `name`, or undefined. */
export function policyNamed(
  policies: readonly EscalationPolicy[],
  name: string | null,
): EscalationPolicy | undefined {
  return name === null ? undefined : policies.find((p) => p.name === name);
}

/** Moves one incident's escalation on when its timer is due; used at trigger and by the runner. */
export class Escalator {
  constructor(private readonly context: IncidentContext) {}

  /**
   * Acts on `incident` when its timer is due at `now`: an acknowledged one whose ack timed out goes
   * back to triggered and escalates from the first step; a triggered one pages its next step, or
   * records that escalation is exhausted. Returns the incident as changed, or undefined when it was
   * not due or another writer moved it first.
   */
  async advance(incident: Incident, now: number): Promise<Incident | undefined> {
    const esc = incident.escalation;
    if (esc.nextAt === null || esc.nextAt > now) return undefined;
    if (incident.state === 'acknowledged') return this.ackTimedOut(incident, now);
    if (incident.state !== 'triggered') return undefined;
    const { store } = this.context;
    const expected = {
      states: ['triggered'] as const,
      step: esc.step,
      round: esc.round,
      cycle: esc.cycle,
      nextAt: esc.nextAt,
    };
    const policy = policyNamed(this.context.policies(), incident.policy);
    if (!policy || policy.steps.length === 0) {
      const why = policy
        ? `escalation policy "${policy.name}" has no steps`
        : `escalation policy "${incident.policy ?? ''}" is not configured`;
      return store.incidents.update(
        incident.id,
        expected,
        { escalation: { nextAt: null } },
        [{ actor: ESCALATION_ACTOR, kind: 'escalated', message: `${why}; nobody was paged` }],
        now,
      );
    }
    const next = nextPosition(policy, esc.step, esc.round);
    if (!next) {
      const runs = policy.repeat + 1;
      return store.incidents.update(
        incident.id,
        expected,
        { escalation: { nextAt: null, exhausted: true } },
        [
          {
            actor: ESCALATION_ACTOR,
            kind: 'escalated',
            message: `escalation exhausted: nobody acknowledged after ${runs} run${runs === 1 ? '' : 's'} of policy "${policy.name}"`,
            data: { policy: policy.name, exhausted: true },
          },
        ],
        now,
      );
    }
    const targets = await this.context.resolveTargets(policy, next.step, now);
    const first = next.step === 0 && next.round === 0;
    const where = `step ${next.step + 1} of ${policy.steps.length} of policy "${policy.name}"${next.round > 0 ? `, repeat ${next.round}` : ''}`;
    const text = `${first ? 'Triggered' : 'Escalated'}: ${incident.title} (${where})`;
    const notice = incidentNotice(
      incident,
      first ? 'incident.triggered' : 'incident.escalated',
      text,
      this.context.urlOf?.(incident.id),
      { step: next.step, round: next.round },
    );
    const prefix = `incident:${incident.id}:esc:${esc.cycle}:${next.round}:${next.step}`;
    await enqueueNotice(store, targets, prefix, notice, now);
    const delay = policy.steps[next.step]?.delayMs ?? 0;
    const changed = await store.incidents.update(
      incident.id,
      expected,
      {
        escalation: { step: next.step, round: next.round, nextAt: now + delay },
        paged: unionOf(incident.paged, targets),
      },
      [
        {
          actor: ESCALATION_ACTOR,
          kind: first ? 'notified' : 'escalated',
          message: `${first ? 'paged' : 'escalated to'} ${where}: ${describeDestinations(targets)}`,
          data: { policy: policy.name, step: next.step, round: next.round, cycle: esc.cycle, targets },
        },
      ],
      now,
    );
    if (changed && !first && changed.service)
      await store.addEvent({
        service: changed.service,
        releaseId: changed.releaseId,
        at: now,
        type: 'incident.escalated',
        message: `incident #${changed.id} escalated to ${where}`,
        data: { incident: changed.id, key: changed.key, state: changed.state },
      });
    return changed;
  }

  private async ackTimedOut(incident: Incident, now: number): Promise<Incident | undefined> {
    const esc = incident.escalation;
    const reopened = await this.context.store.incidents.update(
      incident.id,
      { states: ['acknowledged'], cycle: esc.cycle, nextAt: esc.nextAt },
      {
        state: 'triggered',
        acknowledgedBy: null,
        acknowledgedAt: null,
        escalation: { step: -1, round: 0, cycle: esc.cycle + 1, nextAt: now, exhausted: false },
      },
      [
        {
          actor: ESCALATION_ACTOR,
          kind: 'reopened',
          message: `acknowledged by ${incident.acknowledgedBy ?? 'someone'} but not resolved in time: escalating again from the first step`,
        },
      ],
      now,
    );
    if (!reopened) return undefined;
    return (await this.advance(reopened, now)) ?? reopened;
  }
}

/** What an EscalationRunner needs besides the incident context. */
export interface EscalationRunnerOptions extends IncidentContext {
  logger?: Logger;
  /** Time between ticks of `start()`; ESCALATION_INTERVAL_MS when omitted. */
  intervalMs?: number;
}

/** Escalates every open incident whose timer is due: `tick(now)` once, or `start()` on a timer. */
export class EscalationRunner {
  private readonly escalator: Escalator;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private stopped = false;

  constructor(private readonly options: EscalationRunnerOptions) {
    this.escalator = new Escalator(options);
  }

  /** Acts on every incident due at `now` (the clock's time when omitted); resolves to how many moved. */
  async tick(now: number = this.options.clock.now()): Promise<number> {
    const due = await this.options.store.incidents.due(now, TICK_LIMIT);
    let moved = 0;
    for (const incident of due) {
      try {
        if (await this.escalator.advance(incident, now)) moved += 1;
      } catch (err) {
        // One incident's failure (a target that cannot be resolved) must not hold the others up.
        this.options.logger?.error(
          { err, incident: incident.id },
          `escalating incident #${incident.id} failed: ${errorMessage(err)}`,
        );
      }
    }
    return moved;
  }

  /** Ticks every interval, never two at once, until `stop()`. */
  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => {
      if (this.running || this.stopped) return;
      this.running = this.tick()
        .catch((err: unknown) => {
          this.options.logger?.error({ err }, `escalation tick failed: ${errorMessage(err)}`);
          return 0;
        })
        .finally(() => (this.running = undefined));
    }, this.options.intervalMs ?? ESCALATION_INTERVAL_MS);
    this.timer.unref();
  }

  /** Stops the timer and waits for a running tick. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
