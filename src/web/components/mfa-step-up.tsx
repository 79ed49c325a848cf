/** A step-up: a fresh code from the authenticator makes the session count as having proved it, for protected actions. */
import { type FormEvent, useState } from 'react';
import { verifyMfa } from '../api/resources.js';
import { OtpField } from './otp-field.js';

/** The step-up form. */
export function MfaStepUp() {
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [proved, setProved] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setProved(null);
    try {
      await verifyMfa(code);
      setProved(Date.now());
      setCode('');
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="mfa-step-up" aria-labelledby="step-up-title" onSubmit={(e) => void submit(e)}>
      <h3 id="step-up-title">Prove a fresh code</h3>
      <p className="muted">
        Approvals in a protected environment need a code proved in the last few minutes. Prove one here before
        a run of them, and the dialogs will not ask each time.
      </p>
      <div className="row">
        <OtpField value={code} onChange={setCode} />
        <button type="submit" disabled={busy}>
          Prove code
        </button>
      </div>
      {proved !== null && (
        <p className="notice" role="status">
          Code accepted: this session counts as fresh for protected actions for a few minutes.
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
