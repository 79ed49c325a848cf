/** Stored rows (schema.ts) to the camelCase rows of types.ts, for the store (kysely-store.ts). */
import type { Selectable } from 'kysely';
import type { Evidence, Gate, ItemState } from '../domain/checklist.js';
import type { ReleaseState } from '../domain/release.js';
import type { Database } from './schema.js';
import type {
  ChecklistItemRow,
  EffectRow,
  EventRow,
  LeaseRow,
  MeasurementRow,
  ReleaseRow,
  ReleaseSampleRow,
  SampleFigures,
} from './types.js';
import { num } from './values.js';

export function toChecklistItem(r: Selectable<Database['checklist_items']>): ChecklistItemRow {
  return {
    releaseId: Number(r.release_id),
    id: r.item_id,
    position: Number(r.position),
    section: r.section,
    title: r.title,
    kind: r.kind,
    gate: r.gate as Gate,
    params: JSON.parse(r.params) as Record<string, unknown>,
    hint: r.hint,
    automated: Number(r.automated) === 1,
    state: r.state as ItemState,
    evidence: JSON.parse(r.evidence) as Evidence[],
    updatedAt: Number(r.updated_at),
  };
}

export function toRelease(r: Selectable<Database['releases']>): ReleaseRow {
  return {
    id: Number(r.id),
    service: r.service,
    version: r.version,
    fromVersion: r.from_version,
    kind: r.kind as ReleaseRow['kind'],
    state: r.state as ReleaseState,
    phase: r.phase as ReleaseRow['phase'],
    step: Number(r.step),
    weight: Number(r.weight),
    reason: r.reason,
    outcome: r.outcome as ReleaseState | null,
    stepStartedAt: Number(r.step_started_at),
    phaseStartedAt: Number(r.phase_started_at),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    endedAt: num(r.ended_at),
  };
}

export function toLease(r: Selectable<Database['leases']>): LeaseRow {
  return {
    name: r.name,
    holder: r.holder,
    expiresAt: Number(r.expires_at),
    epoch: Number(r.epoch),
    acquiredAt: Number(r.acquired_at),
    lockEpoch: num(r.lock_epoch),
  };
}

export function toEffect(r: Selectable<Database['effects']>): EffectRow {
  return {
    key: r.key,
    service: r.service,
    releaseId: num(r.release_id),
    kind: r.kind as EffectRow['kind'],
    state: r.state as EffectRow['state'],
    holder: r.holder,
    at: Number(r.at),
    data: JSON.parse(r.data) as Record<string, unknown>,
  };
}

export function toEvent(r: Selectable<Database['events']>): EventRow {
  return {
    id: Number(r.id),
    service: r.service,
    releaseId: num(r.release_id),
    at: Number(r.at),
    type: r.type,
    message: r.message,
    data: JSON.parse(r.data) as Record<string, unknown>,
  };
}

export function toMeasurement(r: Selectable<Database['measurements']>): MeasurementRow {
  return {
    id: Number(r.id),
    releaseId: Number(r.release_id),
    service: r.service,
    at: Number(r.at),
    trigger: r.trigger,
    metric: r.metric,
    version: r.version,
    value: num(r.value),
    threshold: num(r.threshold),
    verdict: r.verdict as MeasurementRow['verdict'],
    windowMs: Number(r.window_ms),
    requests: Number(r.requests),
    message: r.message,
    inputs: JSON.parse(r.inputs) as Record<string, unknown>,
  };
}

export function toSample(r: Selectable<Database['release_samples']>): ReleaseSampleRow {
  const figures = (json: string | null): SampleFigures | null =>
    json === null ? null : (JSON.parse(json) as SampleFigures);
  return {
    id: Number(r.id),
    releaseId: Number(r.release_id),
    service: r.service,
    at: Number(r.at),
    stable: figures(r.stable),
    canary: figures(r.canary),
  };
}
