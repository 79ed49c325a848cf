/**
 * Every control that changes something asks first, in words that say what will happen, and takes
 * a TOTP code where the environment needs one (or when the API answers that it does).
 */
import { type FormEvent, type ReactNode, useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/client.js';
import { OtpField } from './otp-field.js';

/** What the dialog asks and does. */
export interface ConfirmRequest {
  /** The dialog's title: `Abort release #12?` */
  title: string;
  /** What will happen, in a sentence or two. */
  body: ReactNode;
  /** The confirm button's label: `Abort release`. */
  confirmLabel: string;
  /** A destructive action's button is drawn as a warning. */
  danger?: boolean;
  /** Ask for a reason (waivers); the text is passed to `run`. */
  reason?: { label: string; required: boolean };
  /** Ask for a TOTP code from the start (a protected environment). */
  otp?: boolean;
  /** Does the action; throws an ApiError to show. */
  run: (input: { reason: string; otp: string | undefined }) => Promise<void>;
}

/** A modal dialog for one ConfirmRequest; `onClose` is called when it is done or cancelled. */
export function ConfirmDialog({ request, onClose }: { request: ConfirmRequest; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const [otp, setOtp] = useState('');
  const [askOtp, setAskOtp] = useState(request.otp ?? false);
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
      await request.run({ reason, otp: askOtp && otp ? otp : undefined });
      onClose();
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
    <dialog ref={ref} className="dialog" aria-labelledby="confirm-title" onCancel={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <h2 id="confirm-title">{request.title}</h2>
        <div className="dialog-body">{request.body}</div>
        {request.reason && (
          <label className="field">
            <span>{request.reason.label}</span>
            <textarea
              value={reason}
              onChange={(e) => setReason(e.target.value)}
              required={request.reason.required}
              maxLength={2000}
              rows={3}
            />
          </label>
        )}
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
          <button type="submit" className={request.danger ? 'danger' : 'primary'} disabled={busy}>
            {busy ? 'Working…' : request.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** State for one page's dialog: `confirm(request)` opens it, `dialog` renders it. */
export function useConfirm(): { confirm: (request: ConfirmRequest) => void; dialog: ReactNode } {
  const [request, setRequest] = useState<ConfirmRequest | null>(null);
  return {
    confirm: setRequest,
    dialog: request ? <ConfirmDialog request={request} onClose={() => setRequest(null)} /> : null,
  };
}
