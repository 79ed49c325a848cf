/** What incidents tell people: the notice of each change, and the outbox rows that carry it. */
import { destinationLabel } from '../../store/notification-store.js';
import type { Store } from '../../store/types.js';
import type { Destination, NewNotification, Notice } from '../types.js';
import type { Incident } from './types.js';

/** The notice events incidents send. */
export type IncidentEvent =
  'incident.triggered' | 'incident.escalated' | 'incident.acknowledged' | 'incident.resolved';

/** The notice of `event` about `incident`; `notice.incident.key` is the dedup key, PagerDuty's too. */
export function incidentNotice(
  incident: Incident,
  event: IncidentEvent,
  text: string,
  url: string | undefined,
  data: Record<string, unknown> = {},
): Notice {
  return {
    event,
    title: `Incident #${incident.id}: ${incident.title}`,
    text,
    severity: incident.severity,
    ...(incident.service ? { service: incident.service } : {}),
    ...(url ? { url } : {}),
    incident: { id: incident.id, key: incident.key, state: incident.state },
    data: { source: incident.source, policy: incident.policy, releaseId: incident.releaseId, ...data },
  };
}

/**
 * Writes one notification per destination, keyed `prefix:label`: writing the same step or change
 * twice (a retry, a second replica) adds nothing.
 */
export async function enqueueNotice(
  store: Pick<Store, 'notifications'>,
  destinations: readonly Destination[],
  prefix: string,
  notice: Notice,
  at: number,
): Promise<void> {
  const items: NewNotification[] = destinations.map((to) => ({
    key: `${prefix}:${destinationLabel(to)}`,
    to,
    notice,
  }));
  if (items.length > 0) await store.notifications.enqueue(items, at);
}

/** `destinations` with each of `more` not already among them. */
export function unionOf(destinations: readonly Destination[], more: readonly Destination[]): Destination[] {
  const seen = new Set(destinations.map((d) => JSON.stringify(d)));
  const out = [...destinations];
  for (const d of more) {
    const text = JSON.stringify(d);
    if (!seen.has(text)) {
      seen.add(text);
      out.push(d);
    }
  }
  return out;
}

/** `user:ana, ops-pager`: destinations as a timeline entry lists them. */
export function describeDestinations(destinations: readonly Destination[]): string {
  return destinations.length === 0 ? 'nobody' : destinations.map(destinationLabel).join(', ');
}
