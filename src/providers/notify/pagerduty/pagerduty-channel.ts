import type { Notice } from '../../../comms/types.js';
import { hostOf, postJson } from '../http-post.js';
import type { DeliveryResult, NotifyChannel, SendContext } from '../types.js';

/** What each incident event asks PagerDuty to do. */
const INCIDENT_ACTIONS: Record<string, 'trigger' | 'acknowledge' | 'resolve'> = {
  'incident.triggered': 'trigger',
  'incident.escalated': 'trigger',
  'incident.acknowledged': 'acknowledge',
  'incident.resolved': 'resolve',
};
/** PagerDuty caps a summary at 1024 characters. */
const MAX_SUMMARY_CHARS = 1024;
/** The source PagerDuty shows when a notice names no service. */
const DEFAULT_SOURCE = 'shipcheck';

/**
 * What is POSTed where for a notice: an incident's alert event, or a change event for anything else
 * (a release, a test), which shows on the service's timeline and pages nobody.
 */
export function pagerdutyEvent(
  notice: Notice,
  routingKey: string,
  at: number,
): { path: string; body: Record<string, unknown> } {
  const summary = `${notice.title}: ${notice.text}`.slice(0, MAX_SUMMARY_CHARS);
  const timestamp = new Date(at).toISOString();
  const source = notice.service ?? DEFAULT_SOURCE;
  const links = notice.url ? [{ href: notice.url, text: 'Open in shipcheck' }] : [];
  if (notice.incident) {
    const action = INCIDENT_ACTIONS[notice.event] ?? 'trigger';
    const body: Record<string, unknown> = {
      routing_key: routingKey,
      event_action: action,
      dedup_key: notice.incident.key,
    };
    if (action === 'trigger') {
      body.payload = {
        summary,
        source,
        severity: notice.severity,
        timestamp,
        component: notice.service ?? DEFAULT_SOURCE,
        group: notice.service?.split('@')[0] ?? DEFAULT_SOURCE,
        class: notice.event,
        custom_details: { text: notice.text, incident: notice.incident, ...notice.data },
      };
      body.links = links;
      body.client = 'shipcheck';
      if (notice.url) body.client_url = notice.url;
    }
    return { path: '/v2/enqueue', body };
  }
  return {
    path: '/v2/change/enqueue',
    body: {
      routing_key: routingKey,
      payload: {
        summary,
        timestamp,
        source,
        custom_details: {
          event: notice.event,
          ...(notice.release ? { release: notice.release } : {}),
          ...notice.data,
        },
      },
      links,
    },
  };
}

/** Sends incident notices as Events API v2 events and release notices as change events. */
export class PagerDutyChannel implements NotifyChannel {
  readonly type = 'pagerduty';
  readonly target: string;

  constructor(private readonly options: { routingKey: string; url: string; timeoutMs: number }) {
    this.target = hostOf(options.url);
  }

  async send(notice: Notice, context: SendContext): Promise<DeliveryResult> {
    const event = pagerdutyEvent(notice, this.options.routingKey, context.at);
    return postJson(`${this.options.url.replace(/\/$/, '')}${event.path}`, JSON.stringify(event.body), {
      timeoutMs: this.options.timeoutMs,
    });
  }
}
