/**
 * A release's performance baseline on its page: the figures with their sample size, and the comparison
 * with the previous succeeded release's, each regression said in words (docs/baselines.md).
 */
import { useEffect, useState } from 'react';
import {
  type ReleaseBaselineView,
  describeSample,
  formatChange,
  formatFigure,
  releaseBaseline,
} from '../api/baselines.js';

const VERDICT_WORDS = {
  pass: 'Within tolerance',
  regressed: 'Regressed',
  inconclusive: 'Inconclusive',
  'not-judged': 'Shown, not judged',
} as const;

/** The baseline of release `id`; read again whenever `refresh` changes (its checklist was updated). */
export function ReleaseBaseline({ id, refresh }: { id: number; refresh: unknown }) {
  const [view, setView] = useState<ReleaseBaselineView | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    releaseBaseline(id).then(
      (answer) => live && setView(answer),
      (err: unknown) => live && setProblem(err instanceof Error ? err.message : String(err)),
    );
    return () => {
      live = false;
    };
  }, [id, refresh]);

  if (problem) return <p className="error">Could not read the baseline: {problem}</p>;
  if (!view) return <p className="muted">Loading…</p>;
  const { baseline, previous, comparison } = view;
  if (!baseline)
    return <p className="muted">No baseline recorded: it is taken while the release runs at 100%.</p>;
  const state =
    baseline.state === 'recording'
      ? 'Recording…'
      : baseline.state === 'complete'
        ? 'Complete'
        : baseline.state;
  return (
    <div
      className="release-baseline"
      data-testid="release-baseline"
      data-verdict={comparison?.verdict ?? 'none'}
    >
      <p>
        <strong>{state}</strong>
        {baseline.figures && <> — {describeSample(baseline.figures)}</>}
        {baseline.reason && <span className="muted"> ({baseline.reason})</span>}
      </p>
      {comparison && previous ? (
        <>
          <p role={comparison.verdict === 'regressed' ? 'alert' : undefined}>
            {comparison.verdict === 'regressed'
              ? `Regression against ${previous.version} (#${previous.releaseId}): ${comparison.reason}`
              : comparison.verdict === 'inconclusive'
                ? `Not compared with ${previous.version} (#${previous.releaseId}): ${comparison.reason}`
                : `Within tolerance of ${previous.version} (#${previous.releaseId}).`}
          </p>
          <table className="data" aria-label="Baseline comparison">
            <thead>
              <tr>
                <th scope="col">Figure</th>
                <th scope="col" className="num">
                  {previous.version}
                </th>
                <th scope="col" className="num">
                  {baseline.version}
                </th>
                <th scope="col" className="num">
                  Change
                </th>
                <th scope="col">Verdict</th>
              </tr>
            </thead>
            <tbody>
              {comparison.figures.map((f) => (
                <tr key={f.figure}>
                  <th scope="row">{f.label}</th>
                  <td className="num">{formatFigure(f.figure, f.previous)}</td>
                  <td className="num">{formatFigure(f.figure, f.current)}</td>
                  <td className="num">{formatChange(f.figure, f.change)}</td>
                  <td title={f.reason}>
                    {f.verdict === 'regressed' ? (
                      <strong>{VERDICT_WORDS[f.verdict]}</strong>
                    ) : (
                      VERDICT_WORDS[f.verdict]
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {previous.figures && (
            <p className="muted">
              Samples: {previous.version} {describeSample(previous.figures)}; {baseline.version}{' '}
              {baseline.figures ? describeSample(baseline.figures) : 'no figures'}.
            </p>
          )}
        </>
      ) : (
        baseline.state !== 'recording' && <p className="muted">No previous baseline to compare with.</p>
      )}
    </div>
  );
}
