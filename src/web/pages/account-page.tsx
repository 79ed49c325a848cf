/**
 * Account, for everyone signed in: who I am, my authenticator (set it up, or prove a fresh code),
 * and my API tokens.
 */
import { useCallback, useEffect, useState } from 'react';
import { listTokens, revokeToken } from '../api/resources.js';
import type { Token } from '../api/types.js';
import { useConfirm } from '../components/confirm-dialog.js';
import { IdentitySummary } from '../components/identity-summary.js';
import { MfaEnrolment } from '../components/mfa-enrolment.js';
import { MfaStepUp } from '../components/mfa-step-up.js';
import { NewTokenSecret } from '../components/new-token-secret.js';
import { RecoveryCodes } from '../components/recovery-codes.js';
import { TokenCreateForm } from '../components/token-create-form.js';
import { TokensTable } from '../components/tokens-table.js';
import { useSession } from '../session.js';

/** The Account page. */
export function AccountPage() {
  const { session, refresh } = useSession();
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | null>(null);
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { confirm, dialog } = useConfirm();

  const loadTokens = useCallback(async (): Promise<void> => {
    try {
      setTokens(await listTokens());
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  }, []);
  useEffect(() => void loadTokens(), [loadTokens]);

  const revoke = (token: Token): void =>
    confirm({
      title: `Revoke token ${token.name}?`,
      body: (
        <p>
          Anything that uses {token.name} ({token.id}, {token.role}) is refused from its next request. This
          cannot be undone: create a new token to replace it.
        </p>
      ),
      confirmLabel: 'Revoke token',
      danger: true,
      run: async () => {
        const revoked = await revokeToken(token.id);
        setTokens((current) => current?.map((t) => (t.id === revoked.id ? revoked : t)) ?? null);
      },
    });

  return (
    <section aria-labelledby="account-title">
      <h1 id="account-title">Account</h1>
      <section className="card" aria-labelledby="me-title">
        <h2 id="me-title">Who you are</h2>
        <IdentitySummary session={session} />
      </section>

      <section className="card" aria-labelledby="mfa-title">
        <h2 id="mfa-title">Authenticator</h2>
        {recoveryCodes && <RecoveryCodes codes={recoveryCodes} onDone={() => setRecoveryCodes(null)} />}
        {session.user.mfa ? (
          <>
            <p>
              <span className="badge badge-ok">on</span> Your sign-ins ask for a code from your authenticator
              app.
            </p>
            <MfaStepUp />
          </>
        ) : (
          <MfaEnrolment
            onConfirmed={(codes) => {
              setRecoveryCodes(codes);
              void refresh();
            }}
          />
        )}
      </section>

      <section className="card" aria-labelledby="tokens-title">
        <h2 id="tokens-title">Your API tokens</h2>
        <p className="muted">
          For the command line, scripts and CI (<code>SHIPCHECK_TOKEN</code>). A token acts as you, with the
          role you give it.
        </p>
        <TokenCreateForm
          roles={session.user.roles}
          onCreated={(token) => {
            setCreated({ name: token.name, secret: token.token });
            const { token: _secret, ...shown } = token;
            setTokens((current) => [...(current ?? []), shown]);
          }}
        />
        {created && (
          <NewTokenSecret name={created.name} secret={created.secret} onDone={() => setCreated(null)} />
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {tokens && (
          <TokensTable
            label="Your tokens"
            tokens={tokens}
            showUser={false}
            revokeLabel={(token) => `Revoke ${token.name}`}
            onRevoke={revoke}
          />
        )}
      </section>
      {dialog}
    </section>
  );
}
