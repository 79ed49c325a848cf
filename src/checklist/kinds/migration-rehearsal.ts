import { z } from 'zod';
import { createMigrator } from '../../app-database/create-migrator.js';
import type { CheckKind, CheckResult } from '../types.js';
import { errorMessage } from '../../errors.js';

/** `migration-rehearsal` takes no params: what to rehearse is the config's `migrations` block. */
export type MigrationRehearsalParams = Record<string, never>;

/**
 * `migration-rehearsal`: the pending migrations go up, down and up again on a copy of the database
 * (a staging copy, for the command form); the real database is untouched.
 */
export const migrationRehearsalCheck: CheckKind<MigrationRehearsalParams> = {
  kind: 'migration-rehearsal',
  params: z.strictObject({}).describe('No params: the migrations block of the config says what to rehearse.'),
  async run(_params, context): Promise<CheckResult> {
    let migrator;
    try {
      migrator = createMigrator(context.config, context.configDir);
    } catch (err) {
      return { ok: false, summary: errorMessage(err) };
    }
    if (migrator === undefined) return { ok: false, summary: 'no migrations block' };
    let pending: { id: string; reversible: boolean }[];
    try {
      pending = await migrator.pending({ signal: context.signal });
    } catch (err) {
      return { ok: false, summary: errorMessage(err) };
    }
    if (pending.length === 0) return { ok: true, summary: 'no pending migrations to rehearse' };
    const rehearsal = await migrator.rehearse(context.signal);
    return {
      ok: rehearsal.ok,
      summary: rehearsal.summary,
      output: rehearsal.steps.join('\n'),
      data: { pending: pending.map((m) => m.id), steps: rehearsal.steps },
    };
  },
};
