/** Sign in with a name, a password and, once enrolled, a code from an authenticator app. */
import { type FormEvent, useState } from 'react';
import { post, setCsrf } from '../api/client.js';

/** The sign-in form; `onSignedIn` runs once the session cookie is set. */
export function LoginPage({
  problem,
  onSignedIn,
}: {
  problem: string | null;
  onSignedIn: () => Promise<void>;
}) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [otp, setOtp] = useState('');
  const [error, setError] = useState<string | null>(problem);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await post<{ csrf: string }>('/api/v1/login', {
        name,
        password,
        ...(otp ? { otp } : {}),
      });
      setCsrf(answer.csrf);
      await onSignedIn();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="login">
      <form className="card login-card" onSubmit={(e) => void submit(e)}>
        <h1>Sign in to shipcheck</h1>
        <label className="field">
          <span>Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="username" required />
        </label>
        <label className="field">
          <span>Password</span>
          <input
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete="current-password"
            required
          />
        </label>
        <label className="field">
          <span>Authenticator code (once you have enrolled one)</span>
          <input
            value={otp}
            onChange={(e) => setOtp(e.target.value.trim())}
            inputMode="numeric"
            autoComplete="one-time-code"
          />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
