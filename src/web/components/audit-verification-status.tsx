/** Whether the audit log's hash chain checks out, from `GET /api/v1/audit/verify`, and where the live chain starts. */
import type { AuditVerification } from '../api/types.js';

/** The chain's verification status with a button to check it again. */
export function AuditVerificationStatus({
  verification,
  error,
  busy,
  archive,
  onVerify,
}: {
  verification: AuditVerification | null;
  error: string | null;
  busy: boolean;
  archive: { seq: number; hash: string } | null;
  onVerify: () => void;
}) {
  return (
    <div className="audit-verification card">
      <div data-testid="audit-verification" aria-live="polite">
        {error ? (
          <p className="error" role="alert">
            Could not verify the chain: {error}
          </p>
        ) : verification === null ? (
          <p className="muted">Verifying the chain…</p>
        ) : verification.ok ? (
          <p className="notice">
            {`Chain verified: ${verification.count} entries`}
            {verification.head ? `, head #${verification.head.seq}` : ', no entries yet'}
          </p>
        ) : (
          <div className="error" role="alert">
            <p>
              <strong>
                Chain broken at entry #{verification.firstBad}: {verification.problem}
              </strong>{' '}
              ({verification.count} entries checked)
            </p>
            <p>{verification.message}</p>
          </div>
        )}
      </div>
      {archive && (
        <p className="muted">
          Entries up to #{archive.seq} were moved to an archive file; the live chain starts after it (hash{' '}
          <code title={archive.hash}>{shortHash(archive.hash)}</code>).
        </p>
      )}
      <button type="button" onClick={onVerify} disabled={busy}>
        {busy ? 'Verifying…' : 'Verify again'}
      </button>
    </div>
  );
}

/** The first characters of a hash, enough to tell entries apart on screen. */
export function shortHash(hash: string): string {
  return hash.length > 12 ? `${hash.slice(0, 12)}…` : hash;
}
