/** The runbooks of the service a release concerns, for its page; nothing while it has none. */
import { useEffect, useState } from 'react';
import { listRunbooks } from '../api/resources.js';
import type { RunbookView } from '../api/types.js';
import { RunbookList } from './runbook-list.js';

export function ReleaseRunbooks({ unit }: { unit: string }) {
  const [runbooks, setRunbooks] = useState<RunbookView[] | null>(null);
  useEffect(() => {
    let live = true;
    listRunbooks(unit)
      .then((list) => live && setRunbooks(list))
      .catch(() => live && setRunbooks([]));
    return () => {
      live = false;
    };
  }, [unit]);
  if (runbooks === null || runbooks.length === 0) return null;
  return (
    <section className="card release-section" aria-labelledby="release-runbooks">
      <h2 id="release-runbooks">Runbooks</h2>
      <RunbookList unit={unit} runbooks={runbooks} />
    </section>
  );
}
