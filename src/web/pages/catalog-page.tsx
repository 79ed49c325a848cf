/**
 * The service catalog: the dependency and data-flow diagrams (the server's SVG, with the edges as a
 * list for those who cannot see it), and a card per service with its owner, tier, dependencies,
 * runbooks and contacts.
 */
import { useEffect, useState } from 'react';
import { getCatalog } from '../api/resources.js';
import type { CatalogServiceView, CatalogView } from '../api/types.js';
import { RunbookList } from '../components/runbook-list.js';

const DIAGRAM_ORDER = ['dependencies', 'data-flow'] as const;

export function CatalogPage() {
  const [catalog, setCatalog] = useState<CatalogView | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    getCatalog()
      .then((answer) => live && setCatalog(answer))
      .catch((err: unknown) => live && setError(err instanceof Error ? err.message : String(err)));
    return () => {
      live = false;
    };
  }, []);

  return (
    <section className="catalog-page">
      <h1>Catalog</h1>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {catalog === null ? (
        !error && <p className="muted">Loading…</p>
      ) : (
        <>
          {DIAGRAM_ORDER.map((name) => {
            const diagram = catalog.diagrams[name];
            const headingId = `diagram-${name}`;
            return (
              <section key={name} className="card catalog-diagram" aria-labelledby={headingId}>
                <h2 id={headingId}>{diagram.title}</h2>
                {diagram.edges.length === 0 ? (
                  <p className="muted">Nothing to draw yet: add catalog blocks to the service files.</p>
                ) : (
                  <>
                    <div
                      className="diagram-frame"
                      // Focusable, so a keyboard can scroll a diagram wider than the screen.
                      tabIndex={0}
                      role="group"
                      aria-label={`${diagram.title} diagram`}
                    >
                      <img
                        src={`${diagram.svg}?v=${catalog.catalog}`}
                        alt={`${diagram.title}: ${diagram.edges.join('; ')}`}
                        data-testid={`diagram-${name}`}
                      />
                    </div>
                    <details>
                      <summary>As a list</summary>
                      <ul>
                        {diagram.edges.map((edge) => (
                          <li key={edge}>{edge}</li>
                        ))}
                      </ul>
                    </details>
                  </>
                )}
              </section>
            );
          })}
          <h2>Services</h2>
          <div className="grid">
            {catalog.services.map((s) => (
              <ServiceCard key={s.service} service={s} />
            ))}
          </div>
        </>
      )}
    </section>
  );
}

function ServiceCard({ service }: { service: CatalogServiceView }) {
  const c = service.catalog;
  const headingId = `catalog-${service.service}`;
  return (
    <section className="card catalog-service" aria-labelledby={headingId}>
      <h3 id={headingId}>{service.service}</h3>
      {c === null ? (
        <p className="muted">No catalog block in its service file.</p>
      ) : (
        <>
          {c.description && <p>{c.description}</p>}
          <dl className="catalog-facts">
            <div>
              <dt>Owner</dt>
              <dd>{c.owner ?? 'not set'}</dd>
            </div>
            <div>
              <dt>Team</dt>
              <dd>{c.team ?? 'not set'}</dd>
            </div>
            <div>
              <dt>Tier</dt>
              <dd>{c.tier ?? 'not set'}</dd>
            </div>
          </dl>
          <h4>Dependencies</h4>
          {c.dependencies.length === 0 ? (
            <p className="muted">None listed.</p>
          ) : (
            <ul>
              {c.dependencies.map((d) => (
                <li key={d.name}>
                  {d.name}{' '}
                  <span className="muted">
                    ({d.kind}
                    {d.critical ? ', critical' : ''})
                  </span>
                </li>
              ))}
            </ul>
          )}
          <h4>Runbooks</h4>
          <RunbookList unit={service.service} runbooks={service.runbooks} />
          <h4>Contacts</h4>
          {c.contacts.length === 0 ? (
            <p className="muted">None listed.</p>
          ) : (
            <ul>
              {c.contacts.map((contact) =>
                'user' in contact ? (
                  <li key={`u-${contact.user}`}>{contact.user}</li>
                ) : (
                  <li key={`s-${contact.schedule}`}>on call for {contact.schedule}</li>
                ),
              )}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
