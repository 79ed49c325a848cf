/**
 * `shipcheck token ...`: API tokens for scripts and CI. A token holds one role (in one environment or
 * all) no higher than its creator's, lives 90 days unless told otherwise, and is shown once. With
 * `--login USER` a person signs in with their password to create one; otherwise SHIPCHECK_TOKEN is
 * used.
 */
import { InputError } from '../../errors.js';
import { ROLES } from '../../security/roles.js';
import { createdTokenShape, sessionShape, tokenShape, tokensShape } from '../api-shapes.js';
import type { ApiClient } from '../client.js';
import { type LoginOptions, signIn } from '../sign-in.js';
import { formatTable, formatTime } from '../table.js';
import type { GlobalOptions, Io } from '../target.js';

/** What the API takes as a lifetime: hours or days. */
const LIFETIME = /^\d+(h|d)$/;

/** `token create` flags. */
export interface TokenCreateOptions extends GlobalOptions, LoginOptions {
  name: string;
  role?: string;
  expires?: string;
}

/**
 * `shipcheck token create --name N [--role R[@ENV]] [--expires 90d] [--login USER
 * [--password-stdin]]`: prints the token alone on stdout, and on stderr that it is not shown again
 * and when it expires. Without --role, the creator's highest role in every environment.
 */
export async function tokenCreateCommand(opts: TokenCreateOptions, io: Io): Promise<number> {
  if (opts.expires !== undefined && !LIFETIME.test(opts.expires))
    throw new InputError(
      `--expires ${opts.expires}: give a lifetime in hours or days, e.g. 12h, 30d or 365d`,
    );
  const { client, end } = await signIn(opts, opts);
  try {
    const role = opts.role ?? (await defaultRole(client));
    const created = await client.post(
      '/api/v1/tokens',
      { name: opts.name, role, ...(opts.expires !== undefined ? { expiresIn: opts.expires } : {}) },
      createdTokenShape,
    );
    if (opts.json) io.out(JSON.stringify(created, null, 2));
    else io.out(created.token);
    io.err(
      `token ${created.id} (${created.name}, ${created.role}${created.user ? ` for ${created.user}` : ''}) is shown once and cannot be shown again; ` +
        (created.expiresAt === null ? 'it does not expire' : `it expires ${formatTime(created.expiresAt)}`),
    );
    return 0;
  } finally {
    await end();
  }
}

/** `shipcheck token list [--all]`: the caller's tokens, or everyone's (admins). */
export async function tokenListCommand(
  opts: GlobalOptions & LoginOptions & { all?: boolean },
  io: Io,
): Promise<number> {
  const { client, end } = await signIn(opts, opts);
  try {
    const { tokens } = await client.get(`/api/v1/tokens${opts.all ? '?all=true' : ''}`, tokensShape);
    if (opts.json) {
      io.out(JSON.stringify({ tokens }, null, 2));
      return 0;
    }
    const rows = tokens.map((t) => [
      t.id,
      t.name,
      t.user ?? '-',
      t.role,
      formatTime(t.createdAt),
      formatTime(t.expiresAt),
      formatTime(t.lastUsedAt),
      t.revokedAt !== null ? `revoked ${formatTime(t.revokedAt)}` : 'active',
    ]);
    formatTable(['ID', 'NAME', 'USER', 'ROLE', 'CREATED', 'EXPIRES', 'LAST USED', 'STATE'], rows).forEach(
      (line) => io.out(line),
    );
    return 0;
  } finally {
    await end();
  }
}

/** `shipcheck token revoke ID`: ID as `token list` shows it (or the whole token); refused at once. */
export async function tokenRevokeCommand(
  id: string,
  opts: GlobalOptions & LoginOptions,
  io: Io,
): Promise<number> {
  const { client, end } = await signIn(opts, opts);
  try {
    const token = await client.post(`/api/v1/tokens/${encodeURIComponent(id)}/revoke`, {}, tokenShape);
    io.out(opts.json ? JSON.stringify(token, null, 2) : `revoked token ${token.id} (${token.name})`);
    return 0;
  } finally {
    await end();
  }
}

/**
 * The role a token gets when none is named: the creator's highest role in every environment, or
 * their only grant; otherwise the choice is theirs (an InputError asks for --role).
 */
async function defaultRole(client: ApiClient): Promise<string> {
  const { user } = await client.get('/api/v1/session', sessionShape);
  const roles = user?.roles ?? [];
  const everywhere = roles.filter((r) => !r.includes('@'));
  const rank = (role: string): number => (ROLES as readonly string[]).indexOf(role);
  const highest = everywhere.sort((a, b) => rank(b) - rank(a))[0];
  if (highest !== undefined) return highest;
  if (roles.length === 1 && roles[0] !== undefined) return roles[0];
  throw new InputError(
    `name the token's role with --role (you hold ${roles.length > 0 ? roles.join(', ') : 'no role'})`,
  );
}
