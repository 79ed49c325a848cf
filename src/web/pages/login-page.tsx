/**
 * Sign in with a name, a password and, once enrolled, a code from an authenticator app; or, when
 * the installation has single sign-on, through its OpenID provider.
 */
import { type FormEvent, useEffect, useState } from 'react';
import { get, post, setCsrf } from '../api/client.js';

/** `GET /api/v1/auth/methods`: how this installation signs people in. */
interface AuthMethods {
  password: boolean;
  oidc: { name: string } | null;
}

/** The page to come back to after signing in through the provider: this one, or `/` from `/login`. */
function returnPath(): string {
  const { pathname, search, hash } = window.location;
  return pathname === '/login' ? '/' : `${pathname}${search}${hash}`;
}

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
  const [oidc, setOidc] = useState<AuthMethods['oidc']>(null);

  useEffect(() => {
    let current = true;
    // Without an answer the page offers the password form alone, which works everywhere.
    get<AuthMethods>('/api/v1/auth/methods').then(
      (methods) => current && setOidc(methods.oidc),
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, []);

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
        {oidc && (
          <>
            {/* A plain link: the browser goes to the provider and comes back through the callback. */}
            <a
              className="button primary login-sso"
              href={`/api/v1/auth/oidc/login?next=${encodeURIComponent(returnPath())}`}
            >
              Sign in with {oidc.name}
            </a>
            <p className="login-or muted">or with a name and password</p>
          </>
        )}
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
