/** The recovery codes of a new authenticator, shown once. */

/** The codes as a list, with what to do with them. */
export function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  return (
    <div className="recovery-codes notice" role="status">
      <p>
        <strong>Your authenticator is set up.</strong> Store these recovery codes somewhere safe, such as a
        password manager, now: they are shown only this once. Each one signs you in once if you lose your
        authenticator.
      </p>
      <ol aria-label="Recovery codes" className="mono">
        {codes.map((code) => (
          <li key={code}>{code}</li>
        ))}
      </ol>
      <button type="button" onClick={onDone}>
        I have stored them
      </button>
    </div>
  );
}
