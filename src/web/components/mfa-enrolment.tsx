/**
 * Setting up an authenticator app: a new secret as a QR code and as text, then a code from the app
 * to confirm it. The recovery codes the confirmation answers are shown by the caller.
 */
import { type FormEvent, useState } from 'react';
import { confirmMfa, enrolMfa } from '../api/resources.js';

/** The enrolment flow; `onConfirmed` gets the recovery codes. */
export function MfaEnrolment({ onConfirmed }: { onConfirmed: (recoveryCodes: string[]) => void }) {
  const [enrolment, setEnrolment] = useState<{ secret: string; uri: string; qrSvg: string } | null>(null);
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const start = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      setEnrolment(await enrolMfa());
      setCode('');
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const confirm = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { recoveryCodes } = await confirmMfa(code);
      onConfirmed(recoveryCodes);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="mfa-enrolment">
      <p>
        Your account has no authenticator yet. Protected environments need one for approvals, and once it is
        set up every sign-in asks for a code from it.
      </p>
      <button
        type="button"
        className={enrolment ? undefined : 'primary'}
        onClick={() => void start()}
        disabled={busy}
      >
        {enrolment ? 'Start again with a new secret' : 'Set up authenticator'}
      </button>
      {enrolment && (
        <div className="mfa-secret">
          <p>Scan the QR code with your authenticator app, or type the secret into it.</p>
          <img
            className="qr"
            alt="QR code for your authenticator app"
            src={'data:image/svg+xml;utf8,' + encodeURIComponent(enrolment.qrSvg)}
            width={200}
            height={200}
          />
          <p>
            Secret: <code data-testid="totp-secret">{enrolment.secret}</code>
          </p>
          <p className="otpauth">
            Link: <code>{enrolment.uri}</code>
          </p>
          <form onSubmit={(e) => void confirm(e)} className="row">
            <label className="field">
              <span>Code from your authenticator</span>
              <input
                value={code}
                onChange={(e) => setCode(e.target.value.trim())}
                inputMode="numeric"
                autoComplete="one-time-code"
                pattern="[0-9]{6}"
                maxLength={6}
                required
              />
            </label>
            <button type="submit" className="primary" disabled={busy}>
              Confirm
            </button>
          </form>
        </div>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
