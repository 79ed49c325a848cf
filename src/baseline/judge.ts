/**
 * The verdict of one `baseline` check item: a release's recorded baseline against the previous
 * succeeded release's, for one group of figures. Shared by the check kind (run by the checklist runner
 * or the scheduler) and by the recorder, which updates a release's items when its baseline is stored.
 */
import type { CheckResult } from '../checklist/types.js';
import type { BaselineSettings } from '../config/baseline-schema.js';
import type { BaselineRow, BaselineStore } from '../store/baseline-store.js';
import {
  type BaselineComparison,
  type BaselineMetricGroup,
  compareBaselines,
  describeSample,
  formatFigure,
  groupOf,
} from './compare.js';

/** The comparison of a baseline with the one before it; undefined without a finished previous one. */
export async function comparisonOf(
  store: BaselineStore,
  baseline: BaselineRow,
  settings: BaselineSettings,
): Promise<{ previous: BaselineRow; comparison: BaselineComparison } | undefined> {
  if (!baseline.figures) return undefined;
  const previous = await store.previous(baseline.service, baseline.releaseId);
  if (!previous?.figures) return undefined;
  return { previous, comparison: compareBaselines(previous.figures, baseline.figures, settings) };
}

/** Judges `group` of a release's baseline; a regression fails with both figures and sample sizes. */
export async function judgeBaseline(
  store: BaselineStore,
  baseline: BaselineRow | undefined,
  group: BaselineMetricGroup,
  settings: BaselineSettings,
): Promise<CheckResult> {
  if (!baseline)
    return { ok: false, inconclusive: true, summary: 'no baseline recorded for this release yet' };
  if (baseline.state === 'recording')
    return { ok: false, inconclusive: true, summary: 'the baseline is still being recorded' };
  if (baseline.state === 'discarded' || !baseline.figures)
    return { ok: false, inconclusive: true, summary: `no baseline: ${baseline.reason ?? 'discarded'}` };
  const found = await comparisonOf(store, baseline, settings);
  const sample = describeSample(baseline.figures);
  if (!found) {
    return {
      ok: false,
      inconclusive: true,
      summary: `no previous baseline to compare with (this one: ${sample})`,
      data: { baseline: baseline.figures, releaseId: baseline.releaseId },
    };
  }
  const { previous, comparison } = found;
  const judged = groupOf(comparison, group);
  const samples = `${previous.version} (#${previous.releaseId}): ${describeSample(previous.figures!)}; ${baseline.version} (#${baseline.releaseId}): ${sample}`;
  const data = {
    previous: {
      releaseId: previous.releaseId,
      version: previous.version,
      state: previous.state,
      figures: previous.figures,
    },
    current: {
      releaseId: baseline.releaseId,
      version: baseline.version,
      state: baseline.state,
      figures: baseline.figures,
    },
    figures: judged.figures,
    comparable: comparison.comparable,
  };
  const output = judged.figures
    .map(
      (f) =>
        `${f.label}: ${formatFigure(f.figure, f.previous)} -> ${formatFigure(f.figure, f.current)} ${f.verdict}: ${f.reason}`,
    )
    .concat(`sample: ${samples}`)
    .join('\n');
  const current =
    judged.figures.find((f) => f.verdict === 'regressed') ??
    judged.figures.find((f) => f.verdict !== 'not-judged');
  const value = current?.current ?? undefined;
  const partial =
    baseline.state === 'restarted' || previous.state === 'restarted' ? ' (a window cut by a restart)' : '';
  switch (judged.verdict) {
    case 'regressed':
      return {
        ok: false,
        summary: `regressed: ${judged.reason}; ${samples}${partial}`,
        output,
        data,
        ...(value === undefined ? {} : { value }),
      };
    case 'inconclusive':
      return {
        ok: false,
        inconclusive: true,
        summary: `inconclusive: ${judged.reason}${partial}`,
        output,
        data,
      };
    default:
      return {
        ok: true,
        summary: `${judged.reason}; ${samples}${partial}`,
        output,
        data,
        ...(value === undefined ? {} : { value }),
      };
  }
}
