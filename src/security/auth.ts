/**
 * Who is calling: API tokens, browser sessions and password logins, with lockout after repeated
 * failures. Route guards (src/api/guard.ts) ask `authenticate` for a principal and check its role;
 * nothing here knows about routes.
 */
import type { Logger } from 'pino';
import { TooManyRequestsError, UnauthorizedError } from '../errors.js';
import type { SecurityStore, SessionRow, TokenRow, UserRow } from '../store/security-store.js';
import type { Clock } from '../util/clock.js';
import { TOKEN_PREFIX, hashSecret, newSecret, sameSecret } from './credentials.js';
import type { Mfa } from './mfa.js';
import { verifyPassword } from './passwords.js';
import { type Role, roleAtLeast, roleIn as grantedRole } from './roles.js';

/** The session cookie's name. */
export const SESSION_COOKIE = 'shipcheck_session';
/** The header that carries a session's CSRF token on every mutating request. */
export const CSRF_HEADER = 'x-shipcheck-csrf';
/** The header that carries a TOTP code (or a recovery code) for actions that need a fresh proof. */
export const OTP_HEADER = 'x-shipcheck-otp';
/** What every refused credential hears, so the answer does not say which part was wrong. */
export const WRONG_CREDENTIALS = 'wrong name, password or code';
/** A session's last-seen time is written at most this often. */
const TOUCH_SESSION_MS = 10_000;
/** A token's last-used time is written at most this often. */
const TOUCH_TOKEN_MS = 60_000;
/** Failed logins from one address within `ADDRESS_WINDOW_MS` before it must wait. */
const ADDRESS_ATTEMPTS = 20;
const ADDRESS_WINDOW_MS = 15 * 60_000;
/** Failed logins remembered for names that are not users, so they lock as real ones do. */
const UNKNOWN_NAMES_KEPT = 10_000;

/** How authentication behaves; `server.auth` in the config. */
export interface AuthSettings {
  sessionIdleMs: number;
  sessionAbsoluteMs: number;
  mfaFreshMs: number;
  lockoutAttempts: number;
  lockoutMs: number;
  /** Whether the API is served over TLS (the cookie is then `Secure`). */
  secure: boolean;
}

/** Whoever made a request, with what they may do. */
export interface Principal {
  /** How the audit log names them: `alice`, `alice (token ci)`, `anonymous`. */
  actor: string;
  /** The person: what a signature records. */
  name: string;
  user: UserRow | undefined;
  token: TokenRow | undefined;
  session: SessionRow | undefined;
  /** Teams a checklist item's `role` names; undefined when authentication is off (anyone signs). */
  groups: readonly string[] | undefined;
  /** The highest role in an environment (undefined: a unit without environments). */
  roleIn(environment: string | undefined): Role | undefined;
}

/** The principal of an open API (`server.auth.required: false`). */
export const ANONYMOUS: Principal = {
  actor: 'anonymous',
  name: 'anonymous',
  user: undefined,
  token: undefined,
  session: undefined,
  groups: undefined,
  roleIn: () => 'admin',
};

/** What the guard hands `authenticate`: the request's credentials. */
export interface Credentials {
  authorization: string | undefined;
  cookie: string | undefined;
}

/** A new browser session: the cookie to set and the CSRF token to send back. */
export interface NewSession {
  id: string;
  session: SessionRow;
  user: UserRow;
}

/** Reads one cookie out of a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** A user's principal; with a token, what the token allows and the user still holds. */
export function principalOf(user: UserRow, token?: TokenRow, session?: SessionRow): Principal {
  const roleIn = (environment: string | undefined): Role | undefined => {
    const held = grantedRole(user.grants, environment);
    if (!token) return held;
    if (token.environment !== '*' && token.environment !== environment) return undefined;
    if (held === undefined) return undefined;
    return roleAtLeast(held, token.role) ? token.role : held;
  };
  return {
    actor: token ? `${user.name} (token ${token.name})` : user.name,
    name: user.name,
    user,
    token,
    session,
    groups: user.groups,
    roleIn,
  };
}

/** Sessions, tokens and logins over the security store. */
export class Auth {
  private readonly addressFailures = new Map<string, number[]>();
  private readonly unknownNames = new Map<string, { failures: number; lockedUntil: number | null }>();
  private readonly touchedTokens = new Map<string, number>();

  constructor(
    readonly store: SecurityStore,
    readonly settings: AuthSettings,
    readonly mfa: Mfa,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /**
   * The principal behind a request's credentials; undefined when it carries none. A credential that
   * is wrong, revoked, expired or belongs to a disabled user is an UnauthorizedError.
   */
  async authenticate(credentials: Credentials): Promise<Principal | undefined> {
    const now = this.clock.now();
    const bearer = /^Bearer\s+(\S+)$/i.exec(credentials.authorization ?? '')?.[1];
    if (credentials.authorization !== undefined && bearer === undefined)
      throw new UnauthorizedError('the authorization header is not "Bearer TOKEN"');
    if (bearer !== undefined) return this.fromToken(bearer, now);
    const sessionId = cookieValue(credentials.cookie, SESSION_COOKIE);
    if (sessionId !== undefined) return this.fromSession(sessionId, now);
    return undefined;
  }

  private async fromToken(token: string, now: number): Promise<Principal> {
    const refused = new UnauthorizedError('the token is not valid: it is wrong, revoked or expired');
    if (!token.startsWith(TOKEN_PREFIX)) throw refused;
    const hash = hashSecret(token);
    const row = await this.store.getToken(hash);
    // The lookup is by hash; comparing the hash again costs nothing and keeps the check explicit.
    if (!row || !sameSecret(row.hash, hash) || row.revokedAt !== null) throw refused;
    if (row.expiresAt !== null && now >= row.expiresAt) throw refused;
    const user = await this.store.getUser(row.userId);
    if (!user || user.disabledAt !== null) throw refused;
    if (now - (this.touchedTokens.get(hash) ?? 0) >= TOUCH_TOKEN_MS) {
      this.touchedTokens.set(hash, now);
      await this.store.touchToken(hash, now);
    }
    return principalOf(user, row);
  }

  private async fromSession(id: string, now: number): Promise<Principal> {
    const hash = hashSecret(id);
    const session = await this.store.getSession(hash);
    if (!session) throw new UnauthorizedError('the session has ended; log in again');
    if (now >= session.expiresAt || now - session.seenAt >= this.settings.sessionIdleMs) {
      await this.store.deleteSession(hash);
      throw new UnauthorizedError('the session has ended; log in again');
    }
    const user = await this.store.getUser(session.userId);
    if (!user || user.disabledAt !== null) {
      await this.store.deleteSession(hash);
      throw new UnauthorizedError('the session has ended; log in again');
    }
    if (now - session.seenAt >= TOUCH_SESSION_MS) {
      await this.store.touchSession(hash, { seenAt: now });
      session.seenAt = now;
    }
    return principalOf(user, undefined, session);
  }

  /**
   * Checks a name and password (and a TOTP or recovery code when the user enrolled one) and opens
   * a session. Every wrong part is the same UnauthorizedError; too many failures, from the address or
   * for the name, a TooManyRequestsError.
   */
  async login(input: { name: string; password: string; otp?: string; address: string }): Promise<NewSession> {
    const now = this.clock.now();
    this.checkAddress(input.address, now);
    const user = await this.store.getUserByName(input.name);
    const locked = user ? user.lockedUntil : (this.unknownNames.get(input.name)?.lockedUntil ?? null);
    if (locked !== null && now < locked) {
      throw new TooManyRequestsError(
        `too many failed logins for this account; try again in ${Math.ceil((locked - now) / 60_000)} min`,
        locked - now,
      );
    }
    const passwordOk = await verifyPassword(user?.passwordHash ?? null, input.password);
    let ok = passwordOk && user !== undefined && user.disabledAt === null;
    if (ok && user!.totpConfirmed) ok = input.otp !== undefined && (await this.mfa.verify(user!, input.otp));
    if (!ok) {
      await this.failed(input.name, user, input.address, now);
      throw new UnauthorizedError(WRONG_CREDENTIALS);
    }
    const fresh = user!.failedLogins > 0 || user!.lockedUntil !== null;
    const current = fresh
      ? await this.store.updateUser(user!.id, { failedLogins: 0, lockedUntil: null }, now)
      : user!;
    return this.openSession(current, input.address, user!.totpConfirmed ? now : null);
  }

  /** Opens a session for a user who proved who they are (a password, or the OpenID provider). */
  async openSession(user: UserRow, address: string | null, mfaAt: number | null): Promise<NewSession> {
    const now = this.clock.now();
    const id = newSecret();
    const session: SessionRow = {
      hash: hashSecret(id),
      userId: user.id,
      csrf: newSecret(),
      address,
      createdAt: now,
      seenAt: now,
      expiresAt: now + this.settings.sessionAbsoluteMs,
      mfaAt,
    };
    await this.store.createSession(session);
    await this.store.deleteExpiredSessions(now);
    return { id, session, user };
  }

  /** The Set-Cookie value for a session id (empty and expired to end it). */
  sessionCookie(id: string | undefined): string {
    const attributes = ['Path=/', 'HttpOnly', 'SameSite=Strict', ...(this.settings.secure ? ['Secure'] : [])];
    if (id === undefined) return [`${SESSION_COOKIE}=`, 'Max-Age=0', ...attributes].join('; ');
    const maxAge = Math.floor(this.settings.sessionAbsoluteMs / 1000);
    return [`${SESSION_COOKIE}=${encodeURIComponent(id)}`, `Max-Age=${maxAge}`, ...attributes].join('; ');
  }

  /**
   * Whether the principal proved a TOTP code recently enough for a protected environment: in this
   * session, or with this token (so a script signs several items after one code, not one per 30 s).
   */
  mfaFresh(principal: Principal): boolean {
    const at = principal.session?.mfaAt ?? principal.token?.mfaAt;
    return at !== null && at !== undefined && this.clock.now() - at < this.settings.mfaFreshMs;
  }

  /** Records that the principal's session or token just proved a TOTP code (a step-up). */
  async markMfa(principal: Principal): Promise<void> {
    const now = this.clock.now();
    if (principal.session) await this.store.touchSession(principal.session.hash, { mfaAt: now });
    else if (principal.token) await this.store.markTokenMfa(principal.token.hash, now);
  }

  private checkAddress(address: string, now: number): void {
    const recent = (this.addressFailures.get(address) ?? []).filter((at) => now - at < ADDRESS_WINDOW_MS);
    this.addressFailures.set(address, recent);
    if (recent.length >= ADDRESS_ATTEMPTS) {
      const retry = recent[0]! + ADDRESS_WINDOW_MS - now;
      throw new TooManyRequestsError(
        `too many failed logins from ${address}; try again in ${Math.ceil(retry / 60_000)} min`,
        retry,
      );
    }
  }

  private async failed(name: string, user: UserRow | undefined, address: string, now: number): Promise<void> {
    const failures = this.addressFailures.get(address) ?? [];
    failures.push(now);
    this.addressFailures.set(address, failures);
    const { lockoutAttempts, lockoutMs } = this.settings;
    if (user) {
      const count = user.failedLogins + 1;
      const lockedUntil = count >= lockoutAttempts ? now + lockoutMs : user.lockedUntil;
      await this.store.updateUser(
        user.id,
        { failedLogins: count >= lockoutAttempts ? 0 : count, lockedUntil },
        now,
      );
      if (count >= lockoutAttempts)
        this.logger.warn(
          { user: user.name, address },
          `account ${user.name} locked after ${count} failed logins`,
        );
      return;
    }
    const entry = this.unknownNames.get(name) ?? { failures: 0, lockedUntil: null };
    entry.failures += 1;
    if (entry.failures >= lockoutAttempts) {
      entry.failures = 0;
      entry.lockedUntil = now + lockoutMs;
    }
    if (this.unknownNames.size >= UNKNOWN_NAMES_KEPT) this.unknownNames.clear();
    this.unknownNames.set(name, entry);
  }
}
