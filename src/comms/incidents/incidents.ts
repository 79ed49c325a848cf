/**
 * The incident service: open, acknowledge, resolve, note and postmortem, with PagerDuty's rules. The
 * API, the CLI (through the API), the Alertmanager webhook and the release communication policy all
 * go through it. Every change writes a timeline entry; trigger pages the policy's first step, and
 * acknowledge and resolve tell every destination paged so far, with the incident's dedup key.
 */
import { ConflictError, InputError, NotFoundError } from '../../errors.js';
import type { IncidentFilter, IncidentPatch } from '../../store/incident-store.js';
import type { Severity } from '../types.js';
import { Escalator, type IncidentContext, policyNamed } from './escalation.js';
import { enqueueNotice, incidentNotice } from './notices.js';
import {
  INCIDENT_SOURCES,
  type Incident,
  type IncidentSource,
  SEVERITIES,
  type TimelineEntry,
} from './types.js';

/** The longest title kept. */
export const TITLE_LIMIT = 200;
/** The longest note, message or postmortem kept. */
export const TEXT_LIMIT = 20_000;

/** What opening an incident takes. */
export interface OpenIncident {
  /** The dedup key: while an incident with this key is open, opening it again adds to its timeline. */
  key: string;
  title: string;
  severity: Severity;
  source: IncidentSource;
  service?: string;
  releaseId?: number;
  /** The escalation policy to page; nobody is paged without one. */
  policy?: string;
  public?: boolean;
  /** The first timeline entry's words; `opened: TITLE` when omitted. */
  message?: string;
}

/** What a note may change besides adding to the timeline. */
export interface IncidentNote {
  message: string;
  severity?: Severity;
  public?: boolean;
}

/** An incident with its timeline, oldest entry first. */
export interface IncidentDetail {
  incident: Incident;
  timeline: TimelineEntry[];
}

function required(name: string, value: string | undefined, limit: number): string {
  const text = (value ?? '').trim();
  if (text === '') throw new InputError(`${name} is empty; say something`);
  if (text.length > limit) throw new InputError(`${name} is longer than ${limit} characters`);
  return text;
}

/** Throws InputError unless `value` is one of the severities. */
export function checkSeverity(value: string): Severity {
  if (!(SEVERITIES as readonly string[]).includes(value))
    throw new InputError(`severity "${value}" is not one of ${SEVERITIES.join(', ')}`);
  return value as Severity;
}

/** Opens, acknowledges, resolves and annotates incidents; see the file comment for the rules. */
export class Incidents {
  private readonly escalator: Escalator;

  constructor(private readonly context: IncidentContext) {
    this.escalator = new Escalator(context);
  }

  private get store(): IncidentContext['store'] {
    return this.context.store;
  }

  private now(): number {
    return this.context.clock.now();
  }

  /**
   * Opens an incident and pages its policy's first step, or, when one with the same key is open,
   * adds a `triggered` entry to it and returns it unchanged. InputError for an empty title or key,
   * an unknown severity, source or policy.
   */
  async open(input: OpenIncident, actor = 'shipcheck'): Promise<Incident> {
    const key = required('key', input.key, TITLE_LIMIT);
    const title = required('title', input.title, TITLE_LIMIT);
    const severity = checkSeverity(input.severity);
    if (!(INCIDENT_SOURCES as readonly string[]).includes(input.source))
      throw new InputError(`source "${input.source}" is not one of ${INCIDENT_SOURCES.join(', ')}`);
    const policy = input.policy ?? null;
    if (policy !== null && !policyNamed(this.context.policies(), policy)) {
      const names = this.context.policies().map((p) => `"${p.name}"`);
      throw new InputError(
        `escalation policy "${policy}" is not configured; ${names.length > 0 ? `the installation has ${names.join(', ')}` : 'the installation has none (oncall.escalationPolicies)'}`,
      );
    }
    const at = this.now();
    const message = input.message?.trim() || `opened: ${title}`;
    const { incident, created } = await this.store.incidents.open(
      {
        key,
        title,
        severity,
        source: input.source,
        service: input.service ?? null,
        releaseId: input.releaseId ?? null,
        policy,
        public: input.public ?? false,
        nextEscalationAt: policy === null ? null : at,
      },
      { actor, kind: 'triggered', message, data: { source: input.source } },
      {
        actor,
        kind: 'triggered',
        message: `triggered again${input.message ? `: ${input.message.trim()}` : ''}`,
        data: { source: input.source },
      },
      at,
    );
    if (!created) return incident;
    await this.streamEvent(incident, 'incident.triggered', `incident #${incident.id} opened: ${title}`, at);
    if (incident.public) await this.context.onPublic?.(incident, message);
    try {
      return (await this.escalator.advance(incident, at)) ?? (await this.require(incident.id));
    } catch {
      // The incident is open and its first page is due now: the escalation runner pages it on its
      // next tick, and logs why if it fails again. The caller gets the incident, not an error.
      return this.require(incident.id);
    }
  }

  /**
   * Acknowledges an incident: escalation stops (until the policy's ack timeout, if any) and every
   * destination paged hears of it. Acknowledging an acknowledged one changes nothing; a resolved one
   * is a ConflictError.
   */
  async acknowledge(id: number, actor: string, message?: string): Promise<Incident> {
    for (;;) {
      const incident = await this.require(id);
      if (incident.state === 'resolved')
        throw new ConflictError(`incident #${id} is resolved; it cannot be acknowledged`);
      if (incident.state === 'acknowledged') return incident;
      const at = this.now();
      const policy = policyNamed(this.context.policies(), incident.policy);
      const timeout = policy && policy.ackTimeoutMs > 0 ? at + policy.ackTimeoutMs : null;
      const changed = await this.store.incidents.update(
        id,
        { states: ['triggered'] },
        {
          state: 'acknowledged',
          acknowledgedBy: actor,
          acknowledgedAt: at,
          escalation: { nextAt: timeout },
        },
        [{ actor, kind: 'acknowledged', message: message?.trim() || `acknowledged by ${actor}` }],
        at,
      );
      // Lost a race (the runner reopened or escalated it, someone resolved it): look again.
      if (!changed) continue;
      await enqueueNotice(
        this.store,
        changed.paged,
        `incident:${id}:ack:${changed.escalation.cycle}`,
        incidentNotice(
          changed,
          'incident.acknowledged',
          `Acknowledged by ${actor}: ${changed.title}`,
          this.context.urlOf?.(id),
        ),
        at,
      );
      await this.streamEvent(
        changed,
        'incident.acknowledged',
        `incident #${id} acknowledged by ${actor}`,
        at,
      );
      return changed;
    }
  }

  /** Resolves an incident: escalation stops and every destination paged hears of it. ConflictError when it is resolved already. */
  async resolve(id: number, actor: string, message?: string): Promise<Incident> {
    const incident = await this.require(id);
    if (incident.state === 'resolved') throw new ConflictError(`incident #${id} is resolved already`);
    const at = this.now();
    const changed = await this.store.incidents.update(
      id,
      { states: ['triggered', 'acknowledged'] },
      { state: 'resolved', resolvedBy: actor, resolvedAt: at, escalation: { nextAt: null } },
      [{ actor, kind: 'resolved', message: message?.trim() || `resolved by ${actor}` }],
      at,
    );
    if (!changed) throw new ConflictError(`incident #${id} was resolved by someone else just now`);
    await enqueueNotice(
      this.store,
      changed.paged,
      `incident:${id}:resolved`,
      incidentNotice(
        changed,
        'incident.resolved',
        `Resolved by ${actor}: ${changed.title}`,
        this.context.urlOf?.(id),
      ),
      at,
    );
    await this.streamEvent(changed, 'incident.resolved', `incident #${id} resolved by ${actor}`, at);
    await this.context.onResolved?.(changed, message?.trim() || `resolved by ${actor}`);
    return changed;
  }

  /**
   * Puts the open incident with dedup key `key` under monitoring: it resolves by itself `afterMs`
   * from now (resolveDue), unless someone resolves it first; escalation goes on meanwhile. With
   * `afterMs` 0 it is resolved at once. Undefined when no incident with that key is open.
   */
  async monitor(key: string, actor: string, message: string, afterMs: number): Promise<Incident | undefined> {
    if (afterMs <= 0) return this.resolveByKey(key, actor, message);
    const open = await this.store.incidents.findOpen(key);
    if (!open || open.resolveAt !== null) return open;
    const at = this.now();
    return this.store.incidents.update(
      open.id,
      { states: ['triggered', 'acknowledged'] },
      { resolveAt: at + afterMs },
      [
        {
          actor,
          kind: 'note',
          message: `${message}; monitoring, resolves by itself in ${Math.round(afterMs / 1000)} s`,
        },
      ],
      at,
    );
  }

  /** Resolves the monitored incidents whose time has come; returns how many. */
  async resolveDue(): Promise<number> {
    let resolved = 0;
    for (const incident of await this.store.incidents.dueResolutions(this.now())) {
      try {
        await this.resolve(incident.id, 'shipcheck', 'monitored with no new trouble: resolved');
        resolved++;
      } catch (err) {
        // Resolved by a person or another replica meanwhile.
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    return resolved;
  }

  /** Resolves the open incident with dedup key `key`; undefined when none is open. */
  async resolveByKey(key: string, actor: string, message?: string): Promise<Incident | undefined> {
    const open = await this.store.incidents.findOpen(key);
    if (!open) return undefined;
    try {
      return await this.resolve(open.id, actor, message);
    } catch (err) {
      // Resolved by someone else meanwhile: what was asked for holds.
      if (err instanceof ConflictError) return this.store.incidents.get(open.id);
      throw err;
    }
  }

  /** Adds a note to the timeline, and changes the severity or the public flag if given. */
  async update(id: number, actor: string, note: IncidentNote): Promise<Incident> {
    const message = required('message', note.message, TEXT_LIMIT);
    const severity = note.severity === undefined ? undefined : checkSeverity(note.severity);
    await this.require(id);
    const changes: IncidentPatch = {};
    if (severity !== undefined) changes.severity = severity;
    if (note.public !== undefined) changes.public = note.public;
    const at = this.now();
    const changed = await this.store.incidents.update(
      id,
      {},
      changes,
      [{ actor, kind: 'note', message, data: { ...changes } }],
      at,
    );
    if (!changed) throw new NotFoundError(`incident #${id} not found`);
    // Made public now: the status page shows it. Other notes stay with the responders.
    if (note.public === true && changed.state !== 'resolved') await this.context.onPublic?.(changed, message);
    return changed;
  }

  /** Sets the postmortem note (replacing an earlier one) and records it in the timeline. */
  async postmortem(id: number, actor: string, text: string): Promise<Incident> {
    const postmortem = required('postmortem', text, TEXT_LIMIT);
    await this.require(id);
    const changed = await this.store.incidents.update(
      id,
      {},
      { postmortem },
      [{ actor, kind: 'postmortem', message: postmortem }],
      this.now(),
    );
    if (!changed) throw new NotFoundError(`incident #${id} not found`);
    return changed;
  }

  /** The incident and its timeline; NotFoundError for an unknown id. */
  async get(id: number): Promise<IncidentDetail> {
    const incident = await this.require(id);
    return { incident, timeline: await this.store.incidents.timeline(id) };
  }

  /** Incidents, newest first. */
  async list(filter: IncidentFilter = {}): Promise<Incident[]> {
    return this.store.incidents.list(filter);
  }

  private async require(id: number): Promise<Incident> {
    const incident = await this.store.incidents.get(id);
    if (!incident) throw new NotFoundError(`incident #${id} not found`);
    return incident;
  }

  /** An `incident.*` event in the unit's stream, for an incident about a unit. */
  private async streamEvent(incident: Incident, type: string, message: string, at: number): Promise<void> {
    if (!incident.service) return;
    await this.store.addEvent({
      service: incident.service,
      releaseId: incident.releaseId,
      at,
      type,
      message,
      data: { incident: incident.id, key: incident.key, state: incident.state, severity: incident.severity },
    });
  }
}
