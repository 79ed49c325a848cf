/**
 * The audit log: every mutating action, login, failed login and denial, and the engine's automated
 * actions, appended to a hash chain (security/audit-chain.ts) in the store. Appending never fails the
 * action it records after the fact; a failure to append is logged as an error.
 */
import type { Logger } from 'pino';
import type { AuditRecord, SecurityStore } from '../store/security-store.js';
import type { Clock } from '../util/clock.js';
import { redactDeep, redactSecrets } from '../util/secrets.js';
import { chainEntry } from './audit-chain.js';

/** What a caller says about an action; the log adds the time, the sequence number and the hashes. */
export interface AuditFields {
  actor: string;
  action: string;
  target?: string | null;
  service?: string | null;
  address?: string | null;
  result: AuditRecord['result'];
  reason?: string | null;
  data?: Record<string, unknown>;
}

export class AuditLog {
  constructor(
    readonly store: SecurityStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Appends an entry; undefined (and an error in the log) when the store refused it. */
  async record(fields: AuditFields): Promise<AuditRecord | undefined> {
    try {
      return await this.store.appendAudit((head) =>
        chainEntry(head, {
          at: this.clock.now(),
          actor: fields.actor,
          action: fields.action,
          target: fields.target ?? null,
          service: fields.service ?? null,
          address: fields.address ?? null,
          result: fields.result,
          // Hashed as stored and as served: a secret in a reason is *** in all three.
          reason: fields.reason === undefined || fields.reason === null ? null : redactSecrets(fields.reason),
          data: redactDeep(fields.data ?? {}),
        }),
      );
    } catch (err) {
      this.logger.error(
        { err, action: fields.action, actor: fields.actor },
        'could not append to the audit log',
      );
      return undefined;
    }
  }
}
