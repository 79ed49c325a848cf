/**
 * The dashboard's reads and actions on scheduled checks (`/api/v1/maintenance`), beside resources.ts:
 * the scheduled items of every unit, and running one now.
 */
import { get, post, query } from './client.js';

/** A scheduled item of a unit with its last result and next run, as `GET /api/v1/maintenance` lists it. */
export interface MaintenanceItem {
  unit: string;
  itemId: string;
  section: string;
  title: string;
  kind: string;
  automated: boolean;
  /** Cron expression; null when `maintenance.schedules` turned it off. */
  schedule: string | null;
  timezone: string;
  source: 'template' | 'override';
  hint: string | null;
  nextRunAt: number | null;
  running: boolean;
  failing: boolean;
  last: {
    id: number;
    state: string;
    summary: string;
    trigger: string;
    by: string | null;
    startedAt: number;
    finishedAt: number | null;
  } | null;
}

/** One run of a scheduled item. */
export interface MaintenanceRun {
  id: number;
  unit: string;
  itemId: string;
  state: string;
  summary: string;
  trigger: string;
  by: string | null;
  startedAt: number;
  finishedAt: number | null;
  durationMs: number | null;
}

const enc = encodeURIComponent;

/** The scheduled items of every unit the caller may view, or of one service's units. */
export async function listMaintenance(service?: string): Promise<MaintenanceItem[]> {
  return (await get<{ items: MaintenanceItem[] }>(`/api/v1/maintenance${query({ service })}`)).items;
}
/** Runs an item now on the server and answers with its finished run. */
export async function runMaintenanceItem(unit: string, itemId: string): Promise<MaintenanceRun> {
  return (await post<{ run: MaintenanceRun }>(`/api/v1/services/${enc(unit)}/maintenance/${enc(itemId)}/run`))
    .run;
}
