import { type Kysely, type Selectable, sql } from 'kysely';
import { ConflictError } from '../errors.js';
import type { Grant, Role } from '../security/roles.js';
import type { Database } from './schema.js';
import { isUniqueViolation, num } from './values.js';
import type { AuditEntry } from '../security/audit-chain.js';

/** A person who signs in: by password (`local`) or through the OpenID provider (`oidc`). */
export interface UserRow {
  id: number;
  name: string;
  email: string | null;
  /** argon2id, PHC string; null for a user who signs in through single sign-on only. */
  passwordHash: string | null;
  grants: Grant[];
  /** Teams a checklist item's `role` names, e.g. `sre`, `release-manager`. */
  groups: string[];
  source: 'local' | 'oidc';
  /** The OpenID provider's `iss sub`, for users it signs in. */
  subject: string | null;
  disabledAt: number | null;
  failedLogins: number;
  lockedUntil: number | null;
  /** Sealed TOTP secret (security/secret-box.ts); `totpConfirmed` once a first code proved enrolment. */
  totpSecret: string | null;
  totpConfirmed: boolean;
  /** The 30-second step of the last code accepted; a code of that step or before is refused. */
  totpLastStep: number | null;
  /** SHA-256 hashes of the recovery codes not used yet. */
  recoveryCodes: string[];
  createdAt: number;
  updatedAt: number;
}

export type NewUser = Omit<
  UserRow,
  | 'id'
  | 'disabledAt'
  | 'failedLogins'
  | 'lockedUntil'
  | 'totpSecret'
  | 'totpConfirmed'
  | 'totpLastStep'
  | 'recoveryCodes'
  | 'updatedAt'
>;

export type UserPatch = Partial<
  Pick<
    UserRow,
    | 'email'
    | 'passwordHash'
    | 'grants'
    | 'groups'
    | 'disabledAt'
    | 'failedLogins'
    | 'lockedUntil'
    | 'totpSecret'
    | 'totpConfirmed'
    | 'totpLastStep'
    | 'recoveryCodes'
  >
>;

/** An API token; the token itself is shown once and only its SHA-256 is kept. */
export interface TokenRow {
  hash: string;
  /** The first characters of the token, to tell tokens apart in lists (`shc_9fK2`). */
  prefix: string;
  name: string;
  userId: number;
  role: Role;
  /** `*` for every environment. */
  environment: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
  /** When a TOTP code was last proven with this token. */
  mfaAt: number | null;
}

/** A browser session; the cookie holds a random id and only its SHA-256 is kept. */
export interface SessionRow {
  hash: string;
  userId: number;
  /** Sent back in `x-shipcheck-csrf` on every mutating request. */
  csrf: string;
  address: string | null;
  createdAt: number;
  seenAt: number;
  /** The absolute end; the idle limit counts from `seenAt`. */
  expiresAt: number;
  /** When a TOTP code was last proven in this session. */
  mfaAt: number | null;
}

/** One audit log entry as stored: the chain's entry (security/audit-chain.ts). */
export type AuditRecord = AuditEntry;

/** Which audit entries to list. */
export interface AuditFilter {
  actor?: string;
  action?: string;
  service?: string;
  since?: number;
  until?: number;
  afterSeq?: number;
  limit: number;
}

function toUser(r: Selectable<Database['users']>): UserRow {
  return {
    id: Number(r.id),
    name: r.name,
    email: r.email,
    passwordHash: r.password_hash,
    grants: JSON.parse(r.grants) as Grant[],
    groups: JSON.parse(r.groups) as string[],
    source: r.source as UserRow['source'],
    subject: r.subject,
    disabledAt: num(r.disabled_at),
    failedLogins: Number(r.failed_logins),
    lockedUntil: num(r.locked_until),
    totpSecret: r.totp_secret,
    totpConfirmed: Number(r.totp_confirmed) === 1,
    totpLastStep: num(r.totp_last_step),
    recoveryCodes: JSON.parse(r.recovery_codes) as string[],
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toToken(r: Selectable<Database['api_tokens']>): TokenRow {
  return {
    hash: r.hash,
    prefix: r.prefix,
    name: r.name,
    userId: Number(r.user_id),
    role: r.role as Role,
    environment: r.environment,
    createdAt: Number(r.created_at),
    expiresAt: num(r.expires_at),
    lastUsedAt: num(r.last_used_at),
    revokedAt: num(r.revoked_at),
    mfaAt: num(r.mfa_at),
  };
}

function toSession(r: Selectable<Database['sessions']>): SessionRow {
  return {
    hash: r.hash,
    userId: Number(r.user_id),
    csrf: r.csrf,
    address: r.address,
    createdAt: Number(r.created_at),
    seenAt: Number(r.seen_at),
    expiresAt: Number(r.expires_at),
    mfaAt: num(r.mfa_at),
  };
}

function toAudit(r: Selectable<Database['audit_log']>): AuditRecord {
  return {
    seq: Number(r.seq),
    at: Number(r.at),
    actor: r.actor,
    action: r.action,
    target: r.target,
    service: r.service,
    address: r.address,
    result: r.result as AuditRecord['result'],
    reason: r.reason,
    data: JSON.parse(r.data) as Record<string, unknown>,
    prev: r.prev,
    hash: r.hash,
  };
}

/** Users, tokens, sessions and the audit log, in the same database as the releases. */
export class SecurityStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: 'sqlite' | 'postgres',
  ) {}

  async countUsers(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Creates a user; a ConflictError when the name is taken. */
  async createUser(input: NewUser): Promise<UserRow> {
    try {
      const r = await this.db
        .insertInto('users')
        .values({
          name: input.name,
          email: input.email,
          password_hash: input.passwordHash,
          grants: JSON.stringify(input.grants),
          groups: JSON.stringify(input.groups),
          source: input.source,
          subject: input.subject,
          disabled_at: null,
          failed_logins: 0,
          locked_until: null,
          totp_secret: null,
          totp_confirmed: 0,
          totp_last_step: null,
          recovery_codes: '[]',
          created_at: input.createdAt,
          updated_at: input.createdAt,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toUser(r);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(`a user named "${input.name}" already exists`);
      throw err;
    }
  }

  async getUser(id: number): Promise<UserRow | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toUser(r);
  }

  async getUserByName(name: string): Promise<UserRow | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return r && toUser(r);
  }

  async getUserBySubject(subject: string): Promise<UserRow | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('subject', '=', subject).executeTakeFirst();
    return r && toUser(r);
  }

  async listUsers(): Promise<UserRow[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('name').execute();
    return rows.map(toUser);
  }

  async updateUser(id: number, patch: UserPatch, now: number): Promise<UserRow> {
    const set: Record<string, unknown> = { updated_at: now };
    if (patch.email !== undefined) set.email = patch.email;
    if (patch.passwordHash !== undefined) set.password_hash = patch.passwordHash;
    if (patch.grants !== undefined) set.grants = JSON.stringify(patch.grants);
    if (patch.groups !== undefined) set.groups = JSON.stringify(patch.groups);
    if (patch.disabledAt !== undefined) set.disabled_at = patch.disabledAt;
    if (patch.failedLogins !== undefined) set.failed_logins = patch.failedLogins;
    if (patch.lockedUntil !== undefined) set.locked_until = patch.lockedUntil;
    if (patch.totpSecret !== undefined) set.totp_secret = patch.totpSecret;
    if (patch.totpConfirmed !== undefined) set.totp_confirmed = patch.totpConfirmed ? 1 : 0;
    if (patch.totpLastStep !== undefined) set.totp_last_step = patch.totpLastStep;
    if (patch.recoveryCodes !== undefined) set.recovery_codes = JSON.stringify(patch.recoveryCodes);
    const r = await this.db
      .updateTable('users')
      .set(set)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toUser(r);
  }

  /**
   * Takes TOTP step `step` for user `id` if no code of that step or a later one was taken before:
   * true when this call took it. A compare-and-set, so two replicas never both accept one code.
   */
  async takeTotpStep(id: number, step: number, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('users')
      .set({ totp_last_step: step, updated_at: now })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Removes recovery code hash `hash` from user `id`: true when it was there (each is used once). */
  async takeRecoveryCode(id: number, hash: string, now: number): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const r = await tx.selectFrom('users').select('recovery_codes').where('id', '=', id).executeTakeFirst();
      if (!r) return false;
      const codes = JSON.parse(r.recovery_codes) as string[];
      if (!codes.includes(hash)) return false;
      const rest = codes.filter((c) => c !== hash);
      const u = await tx
        .updateTable('users')
        .set({ recovery_codes: JSON.stringify(rest), updated_at: now })
        .where('id', '=', id)
        .where('recovery_codes', '=', r.recovery_codes)
        .executeTakeFirst();
      return Number(u.numUpdatedRows) === 1;
    });
  }

  async createToken(row: TokenRow): Promise<void> {
    await this.db
      .insertInto('api_tokens')
      .values({
        hash: row.hash,
        prefix: row.prefix,
        name: row.name,
        user_id: row.userId,
        role: row.role,
        environment: row.environment,
        created_at: row.createdAt,
        expires_at: row.expiresAt,
        last_used_at: row.lastUsedAt,
        revoked_at: row.revokedAt,
        mfa_at: row.mfaAt,
      })
      .execute();
  }

  async getToken(hash: string): Promise<TokenRow | undefined> {
    const r = await this.db.selectFrom('api_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
    return r && toToken(r);
  }

  /** Tokens of `userId`, or every token; newest first. */
  async listTokens(userId?: number): Promise<TokenRow[]> {
    let q = this.db.selectFrom('api_tokens').selectAll();
    if (userId !== undefined) q = q.where('user_id', '=', userId);
    return (await q.orderBy('created_at', 'desc').execute()).map(toToken);
  }

  async touchToken(hash: string, now: number): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: now }).where('hash', '=', hash).execute();
  }

  /** Records that a TOTP code was just proven with this token. */
  async markTokenMfa(hash: string, now: number): Promise<void> {
    await this.db.updateTable('api_tokens').set({ mfa_at: now }).where('hash', '=', hash).execute();
  }

  async revokeToken(hash: string, now: number): Promise<void> {
    await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: now })
      .where('hash', '=', hash)
      .where('revoked_at', 'is', null)
      .execute();
  }

  async createSession(row: SessionRow): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({
        hash: row.hash,
        user_id: row.userId,
        csrf: row.csrf,
        address: row.address,
        created_at: row.createdAt,
        seen_at: row.seenAt,
        expires_at: row.expiresAt,
        mfa_at: row.mfaAt,
      })
      .execute();
  }

  async getSession(hash: string): Promise<SessionRow | undefined> {
    const r = await this.db.selectFrom('sessions').selectAll().where('hash', '=', hash).executeTakeFirst();
    return r && toSession(r);
  }

  async touchSession(hash: string, patch: { seenAt?: number; mfaAt?: number }): Promise<void> {
    const set: Record<string, number> = {};
    if (patch.seenAt !== undefined) set.seen_at = patch.seenAt;
    if (patch.mfaAt !== undefined) set.mfa_at = patch.mfaAt;
    if (Object.keys(set).length === 0) return;
    await this.db.updateTable('sessions').set(set).where('hash', '=', hash).execute();
  }

  async deleteSession(hash: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('hash', '=', hash).execute();
  }

  /** Ends every session of a user (disabled, password reset). */
  async deleteUserSessions(userId: number): Promise<void> {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
  }

  async deleteExpiredSessions(now: number): Promise<void> {
    await this.db.deleteFrom('sessions').where('expires_at', '<=', now).execute();
  }

  /**
   * Appends one audit entry. `link` gets the newest entry's seq and hash (undefined for the first)
   * and returns the entry to append; the head row is locked for the transaction, so entries from
   * several replicas form one chain. Never retried: a retry could append an entry twice.
   */
  async appendAudit(
    link: (head: { seq: number; hash: string } | undefined) => AuditRecord,
  ): Promise<AuditRecord> {
    return this.db.transaction().execute(async (tx) => {
      // SQLite runs one write transaction at a time; PostgreSQL locks the row.
      let q = tx.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1);
      if (this.dialect === 'postgres') q = q.forUpdate();
      let head = await q.executeTakeFirst();
      if (!head && this.dialect === 'postgres') {
        await sql`INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '') ON CONFLICT (id) DO NOTHING`.execute(
          tx,
        );
        head = await tx
          .selectFrom('audit_head')
          .select(['seq', 'hash'])
          .where('id', '=', 1)
          .forUpdate()
          .executeTakeFirst();
      }
      const previous = head && Number(head.seq) > 0 ? { seq: Number(head.seq), hash: head.hash } : undefined;
      const entry = link(previous);
      await tx
        .insertInto('audit_log')
        .values({
          seq: entry.seq,
          at: entry.at,
          actor: entry.actor,
          action: entry.action,
          target: entry.target,
          service: entry.service,
          address: entry.address,
          result: entry.result,
          reason: entry.reason,
          data: JSON.stringify(entry.data),
          prev: entry.prev,
          hash: entry.hash,
        })
        .execute();
      await tx
        .insertInto('audit_head')
        .values({ id: 1, seq: entry.seq, hash: entry.hash })
        .onConflict((oc) => oc.column('id').doUpdateSet({ seq: entry.seq, hash: entry.hash }))
        .execute();
      return entry;
    });
  }

  /** The newest entry's seq and hash, as the head row records it; undefined before the first entry. */
  async auditHead(): Promise<{ seq: number; hash: string } | undefined> {
    const r = await this.db
      .selectFrom('audit_head')
      .select(['seq', 'hash'])
      .where('id', '=', 1)
      .executeTakeFirst();
    return r && Number(r.seq) > 0 ? { seq: Number(r.seq), hash: r.hash } : undefined;
  }

  /** The last entry moved to an archive file (`archiveAudit`); undefined when none was. */
  async auditArchive(): Promise<{ seq: number; hash: string } | undefined> {
    const r = await this.db
      .selectFrom('audit_head')
      .select(['archived_seq', 'archived_hash'])
      .where('id', '=', 1)
      .executeTakeFirst();
    return r && Number(r.archived_seq) > 0
      ? { seq: Number(r.archived_seq), hash: r.archived_hash }
      : undefined;
  }

  /**
   * Retention: drops the entries up to `through` (inclusive), which the caller has written to an
   * archive file and verified, and records `through` as where the live chain now starts. Refuses
   * (ConflictError) unless `through` is an entry in the log with that hash. Returns how many went.
   */
  async archiveAudit(through: { seq: number; hash: string }): Promise<number> {
    return this.db.transaction().execute(async (tx) => {
      let head = tx.selectFrom('audit_head').select(['seq', 'archived_seq']).where('id', '=', 1);
      if (this.dialect === 'postgres') head = head.forUpdate();
      const row = await head.executeTakeFirst();
      const entry = await tx
        .selectFrom('audit_log')
        .select(['seq', 'hash'])
        .where('seq', '=', through.seq)
        .executeTakeFirst();
      if (!row || !entry || entry.hash !== through.hash)
        throw new ConflictError(
          `entry ${through.seq} is not in the audit log with that hash; nothing was archived`,
        );
      const removed = await tx.deleteFrom('audit_log').where('seq', '<=', through.seq).executeTakeFirst();
      await tx
        .updateTable('audit_head')
        .set({ archived_seq: through.seq, archived_hash: through.hash })
        .where('id', '=', 1)
        .execute();
      return Number(removed.numDeletedRows);
    });
  }

  /** Audit entries matching `filter`, oldest first. */
  async listAudit(filter: AuditFilter): Promise<AuditRecord[]> {
    let q = this.db.selectFrom('audit_log').selectAll();
    if (filter.actor !== undefined) q = q.where('actor', '=', filter.actor);
    if (filter.action !== undefined) q = q.where('action', '=', filter.action);
    if (filter.service !== undefined)
      q = q.where((eb) =>
        eb.or([eb('service', '=', filter.service!), eb('service', 'like', `${filter.service!}@%`)]),
      );
    if (filter.since !== undefined) q = q.where('at', '>=', filter.since);
    if (filter.until !== undefined) q = q.where('at', '<', filter.until);
    if (filter.afterSeq !== undefined) q = q.where('seq', '>', filter.afterSeq);
    const rows = await q.orderBy('seq').limit(filter.limit).execute();
    return rows.map(toAudit);
  }
}
