/**
 * Starts a release of a version the user types. The API checks the version and refuses a second
 * active release; its message is shown here, in the dialog, so the user can correct and retry.
 */
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/client.js';
import { deploy } from '../api/resources.js';
import type { Release } from '../api/types.js';
import { OtpField } from './otp-field.js';

/** A modal dialog that deploys `unit`; `onDeployed` gets the new release, `onClose` ends it. */
export function DeployDialog({
  unit,
  stable,
  onDeployed,
  onClose,
}: {
  unit: string;
  stable: string | null;
  onDeployed: (release: Release) => void;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [version, setVersion] = useState('');
  const [otp, setOtp] = useState('');
  const [askOtp, setAskOtp] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const release = await deploy(unit, version.trim(), askOtp && otp ? otp : undefined);
      onDeployed(release);
    } catch (err) {
      if (err instanceof ApiError && err.needsOtp && !askOtp) {
        setAskOtp(true);
        setError('This environment is protected: enter a code from your authenticator app.');
      } else {
        setError(err instanceof Error ? err.message : String(err));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog ref={ref} className="dialog" aria-labelledby="deploy-title" onCancel={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <h2 id="deploy-title">Deploy {unit}</h2>
        <p className="dialog-body">
          Starts a release of the version you name
          {stable ? (
            <>
              , replacing the stable <span className="mono">{stable}</span> step by step
            </>
          ) : (
            ' (the first release of this unit)'
          )}
          .
        </p>
        <label className="field">
          <span>Version</span>
          <input
            value={version}
            onChange={(e) => setVersion(e.target.value)}
            required
            maxLength={128}
            autoComplete="off"
            spellCheck={false}
            autoFocus
          />
        </label>
        {askOtp && <OtpField value={otp} onChange={setOtp} />}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Deploying…' : 'Deploy'}
          </button>
        </div>
      </form>
    </dialog>
  );
}
