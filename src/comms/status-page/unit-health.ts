/**
 * What the status page reads of the running units: each engine's status view (what
 * `GET /api/v1/services/:service` answers), reduced to the instance states and release the
 * derivation (derive.ts) takes.
 */
import { TERMINAL_STATES } from '../../domain/release.js';
import type { StatusView } from '../../engine/views.js';
import type { UnitHealth } from './derive.js';

/** What the health is read from: an engine, or anything with its status view. */
export interface StatusSource {
  status(): Promise<StatusView>;
}

/** The health of one unit from its status view. */
export function unitHealthOf(unit: string, view: StatusView): UnitHealth {
  const release = view.release;
  const active =
    release !== null && release.phase !== 'completed' && !TERMINAL_STATES.includes(release.state);
  return {
    unit,
    stable: view.versions.stable?.instances.map((i) => i.state) ?? [],
    canary: view.versions.canary?.instances.map((i) => i.state) ?? [],
    release: active ? { phase: release.phase, state: release.state } : null,
    // Only the replica holding the unit's lease runs and watches its instances.
    known: view.replica === null || view.replica.leading,
  };
}

/** The health of every unit; one whose status cannot be read counts as unknown (no instances). */
export async function unitsHealth(engines: ReadonlyMap<string, StatusSource>): Promise<UnitHealth[]> {
  const out: UnitHealth[] = [];
  for (const [unit, engine] of engines) {
    try {
      out.push(unitHealthOf(unit, await engine.status()));
    } catch {
      out.push({ unit, stable: [], canary: [], release: null });
    }
  }
  return out;
}
