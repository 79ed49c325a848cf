import { registerSecret } from '../util/secrets.js';
import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import { z } from 'zod';
import { InputError, ProviderError, errorMessage } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import { mapClaims, OIDC_REFUSAL, type OidcRefusal } from './oidc-claims.js';
import { isLoopbackHost, type OidcConfig } from './oidc-config.js';
import type { Grant } from './roles.js';

export {
  claimAt,
  isOidcRefusal,
  mapClaims,
  OIDC_REFUSAL,
  type ClaimMapping,
  type ClaimMappingConfig,
  type OidcRefusal,
  type OidcRefusalReason,
} from './oidc-claims.js';

/**
 * How long a `pending` value from {@link OidcLogin.start} stays good: the time a person has to sign
 * in at the provider. The cookie that carries it should live no longer.
 */
export const PENDING_TTL_MS = 10 * 60_000;

/** Who signed in, as the provider vouches for them, and what that grants in shipcheck. */
export interface OidcIdentity {
  /** The provider's stable id for the user (`sub`); with `issuer`, the key to link a shipcheck user to. */
  subject: string;
  issuer: string;
  /** A name to show: `name`, else `preferred_username`, else `email`, else the subject. */
  name: string;
  /** The user's email, left out when the provider says it is not verified. */
  email?: string;
  grants: Grant[];
  groups: string[];
}

/** What {@link OidcLogin.discover} needs besides the config. */
export interface OidcDiscoverOptions {
  /** shipcheck's callback URL, exactly as registered at the provider. */
  redirectUri: string | URL;
  /** Where the client secret is read from; `process.env` unless given. */
  env?: Record<string, string | undefined>;
  /** Decides when the pending value and the ID token have expired; the wall clock unless given. */
  clock?: Clock;
}

/** The contents of a pending value: what the callback must match. */
const pendingSchema = z.strictObject({
  v: z.literal(1),
  state: z.string().min(1),
  nonce: z.string().min(1),
  verifier: z.string().min(43),
  at: z.number(),
});
type Pending = z.output<typeof pendingSchema>;

/** The RFC 7636 S256 challenge: base64url(SHA-256(verifier)); done here so that `start()` needs no await. */
function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

function readPending(text: string): Pending | undefined {
  try {
    const parsed = pendingSchema.safeParse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The reason oauth4webapi gave under openid-client's generic message; it names claims, never their values. */
function detail(err: Error): string {
  return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
}

/** Turns what openid-client throws during the code exchange into a refusal a person can act on. */
function refusalFor(err: unknown): OidcRefusal {
  if (err instanceof client.AuthorizationResponseError) {
    const why = err.error_description ? `: ${err.error_description}` : '';
    return {
      refused: OIDC_REFUSAL.providerRefused,
      message: `the provider refused the sign-in (${err.error}${why})`,
    };
  }
  if (err instanceof client.ResponseBodyError) {
    const why = err.error_description ? `: ${err.error_description}` : '';
    return {
      refused: err.error === 'invalid_grant' ? OIDC_REFUSAL.codeRejected : OIDC_REFUSAL.providerError,
      message: `the provider's token endpoint refused the code (${err.error}${why})`,
    };
  }
  if (err instanceof client.ClientError) {
    switch (err.code) {
      case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
        return {
          refused: OIDC_REFUSAL.tokenExpired,
          message: `the ID token is expired or not yet valid (${detail(err)})`,
        };
      case 'OAUTH_INVALID_RESPONSE':
      case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED':
      case 'OAUTH_KEY_SELECTION_FAILED':
      case 'OAUTH_PARSE_ERROR':
      case 'OAUTH_UNSUPPORTED_OPERATION':
        return { refused: OIDC_REFUSAL.tokenInvalid, message: `the ID token was refused (${detail(err)})` };
    }
    return {
      refused: OIDC_REFUSAL.providerError,
      message: `the provider's answer was refused (${detail(err)})`,
    };
  }
  return {
    refused: OIDC_REFUSAL.providerError,
    message: `the provider could not be reached (${errorMessage(err)})`,
  };
}

/** The first of `keys` that the claims hold as a non-empty string. */
function firstString(claims: Record<string, unknown>, ...keys: string[]): string | undefined {
  for (const key of keys) {
    const value = claims[key];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/**
 * Sign-in through an OpenID Connect provider with the authorization-code flow, PKCE (S256), state
 * and nonce. `start()` gives the URL to send the browser to and a pending value to keep; the
 * provider sends the browser back to the redirect URI, where `finish()` checks everything and says
 * who signed in, or why not. Holds no per-login state itself: one instance serves every sign-in.
 */
export class OidcLogin {
  private jwksCache: client.ExportedJWKSCache | undefined;

  private constructor(
    private readonly config: OidcConfig,
    private readonly server: client.ServerMetadata,
    private readonly clientSecret: string,
    private readonly redirectUri: URL,
    private readonly clock: Clock,
    private readonly plainHttp: boolean,
  ) {}

  /**
   * Reads the provider's OpenID configuration and the client secret (from `env[clientSecretEnv]`).
   * Throws InputError when the secret is not set or the issuer is plain http off loopback, and
   * ProviderError when the provider cannot be read.
   */
  static async discover(config: OidcConfig, options: OidcDiscoverOptions): Promise<OidcLogin> {
    const env = options.env ?? process.env;
    const clientSecret = env[config.clientSecretEnv];
    if (!clientSecret) {
      throw new InputError(
        `server.auth.oidc.clientSecretEnv: the environment variable ${config.clientSecretEnv}, which should hold the OpenID client secret, is not set`,
      );
    }
    registerSecret(clientSecret);
    const issuer = new URL(config.issuer);
    // openid-client refuses plain http unless told. Allow it only for a provider on this machine
    // (a loopback address, as in tests and local setups), where no network sees the secret or the
    // tokens; anywhere else the issuer must use https.
    const plainHttp = issuer.protocol === 'http:';
    if (plainHttp && !isLoopbackHost(issuer.hostname)) {
      throw new InputError(
        `server.auth.oidc.issuer: ${config.issuer} must use https (plain http only on a loopback address)`,
      );
    }
    let discovered: client.Configuration;
    try {
      discovered = await client.discovery(issuer, config.clientId, clientSecret, undefined, {
        execute: plainHttp ? [client.allowInsecureRequests] : [],
      });
    } catch (err) {
      throw new ProviderError(
        `could not read the OpenID configuration of ${config.issuer}: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
    return new OidcLogin(
      config,
      { ...discovered.serverMetadata() },
      clientSecret,
      new URL(options.redirectUri),
      options.clock ?? systemClock,
      plainHttp,
    );
  }

  /**
   * Begins a sign-in: `url` is the provider's authorization URL to redirect the browser to;
   * `pending` holds the PKCE verifier, state and nonce. `pending` is secret and single-use: keep it
   * where only this browser's next request brings it back (a short-lived HttpOnly, Secure,
   * SameSite=Lax cookie, at most {@link PENDING_TTL_MS}, or server-side under such a cookie), give
   * it to `finish()` once, and drop it.
   */
  start(): { url: string; pending: string } {
    const pending: Pending = {
      v: 1,
      state: client.randomState(),
      nonce: client.randomNonce(),
      verifier: client.randomPKCECodeVerifier(),
      at: this.clock.now(),
    };
    const url = client.buildAuthorizationUrl(this.configuration(), {
      redirect_uri: this.redirectUri.href,
      scope: this.config.scopes.join(' '),
      response_type: 'code',
      code_challenge: pkceChallenge(pending.verifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
    });
    return { url: url.href, pending: Buffer.from(JSON.stringify(pending)).toString('base64url') };
  }

  /**
   * Completes a sign-in from the provider's redirect back to us (`callbackUrl`: only its query is
   * read; the exchange always names the configured redirect URI) and the `pending` value `start()`
   * gave. Checks state, then exchanges the code with the PKCE verifier, then checks the ID token's
   * signature, issuer, audience, nonce and expiry, reads the user's claims (the ID token's, with
   * the UserInfo endpoint's filling in what it lacks) and maps them to grants. Every failure is a
   * refusal, never a throw.
   */
  async finish(callbackUrl: URL, pending: string): Promise<OidcIdentity | OidcRefusal> {
    const expected = readPending(pending);
    if (!expected) {
      return {
        refused: OIDC_REFUSAL.pendingInvalid,
        message: 'the sign-in was not started here, or its record is damaged',
      };
    }
    const age = this.clock.now() - expected.at;
    if (age > PENDING_TTL_MS || age < 0) {
      return { refused: OIDC_REFUSAL.pendingExpired, message: 'the sign-in took too long; start again' };
    }
    if (callbackUrl.searchParams.get('state') !== expected.state) {
      return {
        refused: OIDC_REFUSAL.stateMismatch,
        message: 'the callback does not belong to the sign-in this browser started (state mismatch)',
      };
    }
    const current = new URL(this.redirectUri);
    current.search = callbackUrl.search;
    const config = this.configuration();
    let claims: Record<string, unknown>;
    try {
      const tokens = await client.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: expected.verifier,
        expectedState: expected.state,
        expectedNonce: expected.nonce,
        idTokenExpected: true,
      });
      const idClaims = tokens.claims();
      if (!idClaims) return { refused: OIDC_REFUSAL.tokenInvalid, message: 'the provider sent no ID token' };
      claims = { ...(await this.userInfo(config, tokens.access_token, idClaims.sub)), ...idClaims };
    } catch (err) {
      return refusalFor(err);
    } finally {
      this.jwksCache = client.getJwksCache(config) ?? this.jwksCache;
    }
    const mapping = mapClaims(claims, this.config);
    if ('refused' in mapping) return mapping;
    const subject = String(claims.sub);
    const email = claims.email_verified === false ? undefined : firstString(claims, 'email');
    return {
      subject,
      issuer: String(claims.iss),
      name: firstString(claims, 'name', 'preferred_username', 'email') ?? subject,
      ...(email === undefined ? {} : { email }),
      grants: mapping.grants,
      groups: mapping.groups,
    };
  }

  /**
   * The UserInfo claims for the subject, or none when the provider has no UserInfo endpoint. Many
   * providers put profile and group claims only there for the code flow.
   */
  private async userInfo(
    config: client.Configuration,
    accessToken: string,
    subject: string,
  ): Promise<Record<string, unknown>> {
    if (!this.server.userinfo_endpoint) return {};
    return { ...(await client.fetchUserInfo(config, accessToken, subject)) };
  }

  /**
   * A client configuration whose idea of now is the injected clock's (openid-client reads the wall
   * clock and adds `clockSkew`), with ID token signatures checked against the provider's keys:
   * openid-client skips that check by default for tokens fetched straight from the token endpoint.
   */
  private configuration(): client.Configuration {
    const skewSeconds = Math.round((this.clock.now() - Date.now()) / 1000);
    const supported = this.server.token_endpoint_auth_methods_supported;
    // client_secret_basic is the default a provider registers clients with; post only if basic is not offered.
    const auth =
      supported && !supported.includes('client_secret_basic') && supported.includes('client_secret_post')
        ? client.ClientSecretPost(this.clientSecret)
        : client.ClientSecretBasic(this.clientSecret);
    const config = new client.Configuration(
      this.server,
      this.config.clientId,
      { client_secret: this.clientSecret, [client.clockSkew]: skewSeconds },
      auth,
    );
    if (this.plainHttp) client.allowInsecureRequests(config);
    client.enableNonRepudiationChecks(config);
    if (this.jwksCache) client.setJwksCache(config, this.jwksCache);
    return config;
  }
}
