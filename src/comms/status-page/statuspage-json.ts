/**
 * The page as Atlassian Statuspage's public API v2 shows it (summary.json, status.json,
 * components.json, incidents.json, scheduled-maintenances.json and their filtered lists), field for
 * field, so existing widgets and clients read it unchanged. Times are ISO 8601 with the page's
 * time zone offset; ids are stable strings.
 */
import type { PageIncidentRow } from '../../store/status-page-store.js';
import { type ComponentStatus, type Impact, isoWithOffset, pageStatus, worstStatus } from './derive.js';
import { type ComponentView, RESOLVED_STATUSES, shortHash } from './page-words.js';

/** What the JSON is built from: one read of the page. */
export interface PageSnapshot {
  id: string;
  name: string;
  url: string;
  timeZone: string;
  now: number;
  components: ComponentView[];
  /** The 50 most recent incidents, newest first. */
  incidents: PageIncidentRow[];
  /** The 50 most recent maintenances, latest scheduled first. */
  maintenances: PageIncidentRow[];
}

/** Statuspage's `page` object. */
export interface PageJson {
  id: string;
  name: string;
  url: string;
  time_zone: string;
  updated_at: string;
}

/** Statuspage's component object (a group is a component with `group: true` and its members' ids). */
export interface ComponentJson {
  id: string;
  name: string;
  status: ComponentStatus;
  created_at: string;
  updated_at: string;
  position: number;
  description: string | null;
  showcase: boolean;
  start_date: string | null;
  group_id: string | null;
  page_id: string;
  group: boolean;
  only_show_if_degraded: boolean;
  components?: string[];
}

/** Statuspage's incident update object. */
export interface IncidentUpdateJson {
  id: string;
  status: string;
  body: string;
  incident_id: string;
  created_at: string;
  updated_at: string;
  display_at: string;
  affected_components: { code: string; name: string; old_status: string; new_status: string }[] | null;
  deliver_notifications: boolean;
  custom_tweet: null;
  tweet_id: null;
}

/** Statuspage's incident object; a scheduled maintenance adds `scheduled_for` and `scheduled_until`. */
export interface IncidentJson {
  id: string;
  name: string;
  status: string;
  created_at: string;
  updated_at: string;
  monitoring_at: string | null;
  resolved_at: string | null;
  impact: string;
  shortlink: string;
  started_at: string;
  page_id: string;
  incident_updates: IncidentUpdateJson[];
  components: ComponentJson[];
  scheduled_for?: string;
  scheduled_until?: string;
}

/** A component group's id: derived from its name, apart from components' ids. */
export function groupId(name: string): string {
  return shortHash(`group:${name.toLowerCase()}`);
}

/** The JSON of one read of the page. */
export class StatuspageJson {
  constructor(private readonly snapshot: PageSnapshot) {}

  private iso(at: number): string {
    return isoWithOffset(at, this.snapshot.timeZone);
  }

  /** The `page` object; updated_at is the latest change of a component, incident or maintenance. */
  page(): PageJson {
    const { snapshot } = this;
    const times = [
      ...snapshot.components.map((c) => c.updatedAt ?? 0),
      ...snapshot.incidents.map((i) => i.updatedAt),
      ...snapshot.maintenances.map((m) => m.updatedAt),
    ];
    const updated = Math.max(0, ...times) || snapshot.now;
    return {
      id: snapshot.id,
      name: snapshot.name,
      url: snapshot.url,
      time_zone: snapshot.timeZone,
      updated_at: this.iso(updated),
    };
  }

  /** `status.indicator` and its description: the worst component and unresolved incident. */
  status(): { indicator: string; description: string } {
    return pageStatus(
      this.snapshot.components.map((c) => c.status),
      this.unresolved().map((i) => i.impact as Impact),
    );
  }

  /** Components and their groups, in position order; a group follows its members' first position. */
  components(): ComponentJson[] {
    const { snapshot } = this;
    const out: ComponentJson[] = [];
    const groups = new Map<string, ComponentView[]>();
    for (const c of snapshot.components)
      if (c.group !== null) groups.set(c.group, [...(groups.get(c.group) ?? []), c]);
    const emitted = new Set<string>();
    let position = 0;
    for (const c of snapshot.components) {
      if (c.group !== null && !emitted.has(c.group)) {
        emitted.add(c.group);
        const members = groups.get(c.group) ?? [];
        const created = Math.min(...members.map((m) => m.createdAt ?? snapshot.now));
        const updated = Math.max(...members.map((m) => m.updatedAt ?? snapshot.now));
        out.push({
          id: groupId(c.group),
          name: c.group,
          status: worstStatus(members.map((m) => m.status)),
          created_at: this.iso(created),
          updated_at: this.iso(updated),
          position: ++position,
          description: null,
          showcase: false,
          start_date: null,
          group_id: null,
          page_id: snapshot.id,
          group: true,
          only_show_if_degraded: false,
          components: members.map((m) => m.id),
        });
      }
      out.push({ ...this.component(c), position: ++position });
    }
    return out;
  }

  private component(c: ComponentView): ComponentJson {
    const created = c.createdAt ?? this.snapshot.now;
    return {
      id: c.id,
      name: c.name,
      status: c.status,
      created_at: this.iso(created),
      updated_at: this.iso(c.updatedAt ?? created),
      position: c.position,
      description: c.description,
      showcase: c.showcase,
      start_date: new Date(created).toISOString().slice(0, 10),
      group_id: c.group === null ? null : groupId(c.group),
      page_id: this.snapshot.id,
      group: false,
      only_show_if_degraded: c.onlyShowIfDegraded,
    };
  }

  /** An incident or maintenance as Statuspage shows it. */
  incident(row: PageIncidentRow): IncidentJson {
    const byId = new Map(this.snapshot.components.map((c) => [c.id, c]));
    return {
      id: row.publicId,
      name: row.name,
      status: row.status,
      created_at: this.iso(row.createdAt),
      updated_at: this.iso(row.updatedAt),
      monitoring_at: row.monitoringAt === null ? null : this.iso(row.monitoringAt),
      resolved_at: row.resolvedAt === null ? null : this.iso(row.resolvedAt),
      impact: row.impact,
      shortlink: `${this.snapshot.url}#${row.kind}-${row.publicId}`,
      started_at: this.iso(row.startedAt),
      page_id: this.snapshot.id,
      incident_updates: row.updates.map((u) => ({
        id: u.publicId,
        status: u.status,
        body: u.body,
        incident_id: row.publicId,
        created_at: this.iso(u.createdAt),
        updated_at: this.iso(u.createdAt),
        display_at: this.iso(u.displayAt),
        affected_components: u.affectedComponents,
        deliver_notifications: true,
        custom_tweet: null,
        tweet_id: null,
      })),
      components: row.components.flatMap((id) => {
        const c = byId.get(id);
        return c ? [this.component(c)] : [];
      }),
      ...(row.kind === 'maintenance' && row.scheduledFor !== null && row.scheduledUntil !== null
        ? { scheduled_for: this.iso(row.scheduledFor), scheduled_until: this.iso(row.scheduledUntil) }
        : {}),
    };
  }

  /** Incidents still open: investigating, identified or monitoring. */
  unresolved(): PageIncidentRow[] {
    return this.snapshot.incidents.filter((i) => !RESOLVED_STATUSES.includes(i.status));
  }

  /** Maintenances in these statuses, soonest first. */
  maintenancesIn(statuses: readonly string[]): PageIncidentRow[] {
    return this.snapshot.maintenances
      .filter((m) => statuses.includes(m.status))
      .sort((a, b) => (a.scheduledFor ?? 0) - (b.scheduledFor ?? 0));
  }

  /** `/api/v2/summary.json`. */
  summary(): object {
    return {
      page: this.page(),
      components: this.components(),
      incidents: this.unresolved().map((i) => this.incident(i)),
      scheduled_maintenances: this.maintenancesIn(['scheduled', 'in_progress', 'verifying']).map((m) =>
        this.incident(m),
      ),
      status: this.status(),
    };
  }

  /** `/api/v2/status.json`. */
  statusJson(): object {
    return { page: this.page(), status: this.status() };
  }

  /** `/api/v2/components.json`. */
  componentsJson(): object {
    return { page: this.page(), components: this.components() };
  }

  /** `/api/v2/incidents.json` (all = the 50 most recent) or `/api/v2/incidents/unresolved.json`. */
  incidentsJson(which: 'all' | 'unresolved'): object {
    const rows = which === 'all' ? this.snapshot.incidents : this.unresolved();
    return { page: this.page(), incidents: rows.map((i) => this.incident(i)) };
  }

  /** `/api/v2/scheduled-maintenances.json` and its `upcoming` and `active` lists. */
  maintenancesJson(which: 'all' | 'upcoming' | 'active'): object {
    const rows =
      which === 'all'
        ? this.snapshot.maintenances
        : this.maintenancesIn(which === 'upcoming' ? ['scheduled'] : ['in_progress', 'verifying']);
    return { page: this.page(), scheduled_maintenances: rows.map((m) => this.incident(m)) };
  }
}
