/**
 * The audit log for admins: the chain's verification status, filters kept in the URL, and the
 * entries newest first, read back from the head a page at a time.
 */
import { useCallback, useEffect, useState } from 'react';
import { auditEntries, verifyAudit } from '../api/resources.js';
import type { AuditEntry, AuditVerification } from '../api/types.js';
import {
  type AuditFilters,
  filtersFromSearch,
  isFiltered,
  readOlder,
  searchOfFilters,
} from '../audit-query.js';
import { AuditFilterForm } from '../components/audit-filter-form.js';
import { AuditTable } from '../components/audit-table.js';
import { AuditVerificationStatus } from '../components/audit-verification-status.js';
import { navigate, useLocation } from '../router.js';

type Mark = { seq: number; hash: string } | null;

/** What the page has read so far. */
interface Listing {
  entries: AuditEntry[];
  /** The next `Older entries` reads below this entry number. */
  before: number;
  /** The live chain's start was reached. */
  done: boolean;
  /** The entries up to this one were archived. */
  archive: Mark;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The audit log page. */
export function AuditPage() {
  const { search } = useLocation();
  const filters = filtersFromSearch(search);
  const key = searchOfFilters(filters);

  const [verification, setVerification] = useState<AuditVerification | null>(null);
  const [verifyError, setVerifyError] = useState<string | null>(null);
  const [verifying, setVerifying] = useState(false);
  const [listing, setListing] = useState<Listing | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);

  const verify = useCallback(async (): Promise<void> => {
    setVerifying(true);
    setVerifyError(null);
    try {
      setVerification(await verifyAudit());
    } catch (err) {
      setVerification(null);
      setVerifyError(message(err));
    } finally {
      setVerifying(false);
    }
  }, []);
  useEffect(() => void verify(), [verify]);

  // The newest page for these filters: the head's number first, then one walk back from it.
  useEffect(() => {
    let current = true;
    const current_filters = filtersFromSearch(new URLSearchParams(key));
    setLoading(true);
    setError(null);
    void (async () => {
      try {
        const { head, archive } = await auditEntries({ limit: 1 });
        const floor = archive?.seq ?? 0;
        const page = head
          ? await readOlder(auditEntries, current_filters, head.seq + 1, floor)
          : { entries: [], before: floor + 1, done: true };
        if (current) setListing({ ...page, archive });
      } catch (err) {
        if (current) setError(message(err));
      } finally {
        if (current) setLoading(false);
      }
    })();
    return () => {
      current = false;
    };
  }, [key]);

  const older = async (): Promise<void> => {
    if (!listing) return;
    setLoading(true);
    setError(null);
    try {
      const page = await readOlder(auditEntries, filters, listing.before, listing.archive?.seq ?? 0);
      setListing({
        ...listing,
        entries: [...listing.entries, ...page.entries],
        before: page.before,
        done: page.done,
      });
    } catch (err) {
      setError(message(err));
    } finally {
      setLoading(false);
    }
  };

  const apply = (next: AuditFilters): void => navigate(`/audit${searchOfFilters(next)}`, { replace: true });

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <AuditVerificationStatus
        verification={verification}
        error={verifyError}
        busy={verifying}
        archive={listing?.archive ?? null}
        onVerify={() => void verify()}
      />
      <AuditFilterForm filters={filters} onApply={apply} />
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {listing && (
        <>
          <p className="muted" aria-live="polite">
            {listing.entries.length === 0
              ? isFiltered(filters)
                ? `No entries match these filters down to #${listing.before}.`
                : 'The audit log has no entries.'
              : `${listing.entries.length} ${listing.entries.length === 1 ? 'entry' : 'entries'}${isFiltered(filters) ? ' matching' : ''}, newest first, searched down to #${listing.before}.`}
          </p>
          {listing.entries.length > 0 && <AuditTable entries={listing.entries} />}
          <div className="row audit-paging">
            {!listing.done && (
              <button type="button" onClick={() => void older()} disabled={loading}>
                {loading ? 'Loading…' : 'Older entries'}
              </button>
            )}
            {listing.done && listing.entries.length > 0 && (
              <span className="muted">
                {listing.archive
                  ? `This is the start of the live chain (after #${listing.archive.seq}).`
                  : 'This is the first entry.'}
              </span>
            )}
          </div>
        </>
      )}
      {!listing && loading && <p className="muted">Loading entries…</p>}
    </section>
  );
}
