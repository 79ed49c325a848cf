/**
 * A service's runbooks: a URL runbook as a link, a file runbook as a button that reads it and shows
 * it rendered below. The HTML comes from the server, which escapes any raw HTML in the markdown and
 * keeps only http, https and mailto links, so it is shown as given.
 */
import { useState } from 'react';
import { getRunbook } from '../api/resources.js';
import type { RenderedRunbook, RunbookView } from '../api/types.js';

export function RunbookList({ unit, runbooks }: { unit: string; runbooks: RunbookView[] }) {
  const [open, setOpen] = useState<RenderedRunbook | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [loading, setLoading] = useState<number | null>(null);

  const show = async (index: number): Promise<void> => {
    if (open?.index === index) {
      setOpen(null);
      return;
    }
    setLoading(index);
    setProblem(null);
    try {
      setOpen(await getRunbook(unit, index));
    } catch (err) {
      setProblem(err instanceof Error ? err.message : String(err));
    } finally {
      setLoading(null);
    }
  };

  if (runbooks.length === 0) return <p className="muted">No runbooks in the catalog.</p>;
  return (
    <div className="runbooks">
      <ul className="runbook-list">
        {runbooks.map((r) => (
          <li key={r.index}>
            {r.kind === 'url' ? (
              <a href={r.url} rel="noopener noreferrer">
                {r.title}
              </a>
            ) : (
              <button
                type="button"
                className="link-button"
                aria-expanded={open?.index === r.index}
                aria-controls="runbook-shown"
                onClick={() => void show(r.index)}
              >
                {loading === r.index ? `${r.title} (loading…)` : r.title}
              </button>
            )}
            {r.file && <span className="muted"> {r.file}</span>}
          </li>
        ))}
      </ul>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      {open && (
        <article
          id="runbook-shown"
          className="runbook-body"
          aria-label={`Runbook: ${open.title}`}
          // Rendered by the server with raw HTML escaped (src/catalog/runbooks.ts).
          dangerouslySetInnerHTML={{ __html: open.html }}
        />
      )}
    </div>
  );
}
