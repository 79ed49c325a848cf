/**
 * What the API, the CLI and the dashboard show of baselines: a release's with its comparison, a unit's
 * history, and two chosen ones compared. Built from the store under the unit's `baseline` settings.
 */
import type { BaselineSettings } from '../config/baseline-schema.js';
import { InputError, NotFoundError } from '../errors.js';
import { type BaselineRow, type BaselineStore, COMPARABLE_STATES } from '../store/baseline-store.js';
import { type BaselineComparison, compareBaselines } from './compare.js';

/** A baseline, the one it is compared with, and the comparison (null without either's figures). */
export interface BaselineView {
  baseline: BaselineRow | null;
  previous: BaselineRow | null;
  comparison: BaselineComparison | null;
}

/** The baselines as sent over the API, the same fields as the store's rows. */
export type BaselineHistory = (BaselineRow & {
  verdict: BaselineComparison['verdict'] | null;
  reasonOfVerdict: string | null;
})[];

/** A release's baseline with the previous succeeded release's, compared. */
export async function releaseBaseline(
  store: BaselineStore,
  releaseId: number,
  settings: BaselineSettings,
): Promise<BaselineView> {
  const baseline = (await store.get(releaseId)) ?? null;
  if (!baseline) return { baseline: null, previous: null, comparison: null };
  const previous = (await store.previous(baseline.service, releaseId)) ?? null;
  const comparison =
    previous?.figures && baseline.figures
      ? compareBaselines(previous.figures, baseline.figures, settings)
      : null;
  return { baseline, previous, comparison };
}

/** A unit's baselines, newest first, each with its verdict against the comparable one before it. */
export async function baselineHistory(
  store: BaselineStore,
  unit: string,
  settings: BaselineSettings,
  limit = 100,
): Promise<BaselineHistory> {
  const rows = await store.list(unit, limit);
  return rows.map((row, index) => {
    const previous = rows.slice(index + 1).find((r) => COMPARABLE_STATES.includes(r.state) && r.figures);
    if (!previous?.figures || !row.figures) return { ...row, verdict: null, reasonOfVerdict: null };
    const comparison = compareBaselines(previous.figures, row.figures, settings);
    return { ...row, verdict: comparison.verdict, reasonOfVerdict: comparison.reason };
  });
}

/**
 * A unit's baseline named by release id (`12`, `#12`) or version (`v2`, its newest release's); a
 * NotFoundError names what exists.
 */
export async function findBaseline(store: BaselineStore, unit: string, ref: string): Promise<BaselineRow> {
  const text = ref.trim();
  if (text === '') throw new InputError('name a release id or a version');
  const rows = await store.list(unit, 500);
  const id = /^#?\d+$/.test(text) ? Number(text.replace('#', '')) : undefined;
  const found =
    rows.find((r) => r.version === text) ??
    (id === undefined ? undefined : rows.find((r) => r.releaseId === id));
  if (!found) {
    const known = rows.slice(0, 5).map((r) => `${r.version} (#${r.releaseId})`);
    throw new NotFoundError(
      `no baseline of ${unit} for "${text}"${known.length > 0 ? `; recorded: ${known.join(', ')}` : '; none recorded yet'}`,
    );
  }
  return found;
}

/** Two baselines of a unit compared, `a` as the earlier one; InputError when either has no figures. */
export async function compareNamed(
  store: BaselineStore,
  unit: string,
  a: string,
  b: string,
  settings: BaselineSettings,
): Promise<{ a: BaselineRow; b: BaselineRow; comparison: BaselineComparison }> {
  const first = await findBaseline(store, unit, a);
  const second = await findBaseline(store, unit, b);
  for (const row of [first, second]) {
    if (!row.figures)
      throw new InputError(
        `the baseline of ${row.version} (#${row.releaseId}) is ${row.state}: no figures to compare`,
      );
  }
  return { a: first, b: second, comparison: compareBaselines(first.figures!, second.figures!, settings) };
}
