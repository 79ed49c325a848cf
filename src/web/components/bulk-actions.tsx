/**
 * Pausing or resuming several releases at once, for a freeze. One confirmation names every release
 * the batch acts on; each unit is then called in turn through the public API, and the outcome of
 * each is listed. A TOTP code, when the API asks for one, is asked once and sent with every call.
 */
import { useState } from 'react';
import { ApiError } from '../api/client.js';
import { control } from '../api/resources.js';
import type { Release } from '../api/types.js';
import type { ConfirmRequest } from './confirm-dialog.js';
import { StateBadge } from './state-badge.js';

/** The two batch actions. */
export type BulkAction = 'pause' | 'resume';

/** A unit and the active release the batch would act on. */
export interface BulkTarget {
  unit: string;
  release: Release;
}

/** The outcome of one unit's call: `ok`, or the API's message. */
interface BulkResult {
  unit: string;
  releaseId: number;
  ok: boolean;
  message: string;
}

const WORDS: Record<BulkAction, { button: string; confirm: string; verb: string; done: string }> = {
  pause: { button: 'Pause selected', confirm: 'Pause releases', verb: 'Pause', done: 'paused' },
  resume: { button: 'Resume selected', confirm: 'Resume releases', verb: 'Resume', done: 'resumed' },
};

/** Which of the selected releases an action applies to: pause what runs, resume what is paused. */
export function targetsFor(action: BulkAction, selected: readonly BulkTarget[]): BulkTarget[] {
  return selected.filter((target) =>
    action === 'pause' ? target.release.state !== 'paused' : target.release.state === 'paused',
  );
}

/** The `Pause selected` and `Resume selected` buttons, and the results of the last batch. */
export function BulkActions({
  selected,
  confirm,
  onActed,
}: {
  selected: readonly BulkTarget[];
  confirm: (request: ConfirmRequest) => void;
  /** Called with the units a batch called, so the page reads them again. */
  onActed: (units: string[]) => void;
}) {
  const [results, setResults] = useState<{ action: BulkAction; list: BulkResult[] } | null>(null);

  const ask = (action: BulkAction): void => {
    const targets = targetsFor(action, selected);
    const words = WORDS[action];
    // Kept across the dialog's retries (after it asked for a code): a unit already done is not called again.
    const done = new Map<string, BulkResult>();
    confirm({
      title: `${words.verb} ${targets.length} release${targets.length === 1 ? '' : 's'}?`,
      body: (
        <>
          <p>
            {action === 'pause'
              ? 'Each release stops where it is: its traffic weight stays until it is resumed.'
              : 'Each release carries on from the step it was paused at.'}
          </p>
          <ul className="bulk-targets">
            {targets.map(({ unit, release }) => (
              <li key={unit}>
                <strong>{unit}</strong>: release #{release.id} {release.version}{' '}
                <StateBadge state={release.state} /> at {release.weight}%
              </li>
            ))}
          </ul>
        </>
      ),
      confirmLabel: words.confirm,
      run: async ({ otp }) => {
        for (const { unit, release } of targets) {
          if (done.has(unit)) continue;
          try {
            await control(unit, action, otp ? { otp } : {});
            done.set(unit, { unit, releaseId: release.id, ok: true, message: words.done });
          } catch (err) {
            // Without a code yet, let the dialog ask for one; the batch then goes on with it.
            if (err instanceof ApiError && err.needsOtp && !otp) throw err;
            const message = err instanceof Error ? err.message : String(err);
            done.set(unit, { unit, releaseId: release.id, ok: false, message });
          }
        }
        setResults({ action, list: targets.flatMap(({ unit }) => done.get(unit) ?? []) });
        onActed(targets.map(({ unit }) => unit));
      },
    });
  };

  const pausable = targetsFor('pause', selected).length;
  const resumable = targetsFor('resume', selected).length;
  return (
    <>
      <div className="bulk-actions row">
        <button type="button" onClick={() => ask('pause')} disabled={pausable === 0}>
          {WORDS.pause.button}
        </button>
        <button type="button" onClick={() => ask('resume')} disabled={resumable === 0}>
          {WORDS.resume.button}
        </button>
        <span className="muted">{selected.length} selected</span>
      </div>
      {results && (
        <section className="card bulk-results" aria-labelledby="bulk-results-title">
          <div className="row">
            <h2 id="bulk-results-title">
              {WORDS[results.action].verb}: {results.list.filter((r) => r.ok).length} of {results.list.length}{' '}
              done
            </h2>
            <button type="button" onClick={() => setResults(null)}>
              Dismiss
            </button>
          </div>
          <div role="status">
            <ul>
              {results.list.map((result) => (
                <li key={result.unit}>
                  <strong>{result.unit}</strong> (#{result.releaseId}):{' '}
                  <span className={result.ok ? 'result-ok' : 'result-bad'}>
                    {result.ok ? 'ok' : 'failed'}
                  </span>
                  {!result.ok && <> — {result.message}</>}
                </li>
              ))}
            </ul>
          </div>
        </section>
      )}
    </>
  );
}
