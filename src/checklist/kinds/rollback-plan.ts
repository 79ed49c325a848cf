import { z } from 'zod';
import { createMigrator } from '../../app-database/create-migrator.js';
import { describeIrreversible } from '../../app-database/migrator.js';
import type { CheckContext, CheckKind, CheckResult } from '../types.js';
import { errorMessage } from '../../errors.js';

/** `rollback-plan` takes no params. */
export type RollbackPlanParams = Record<string, never>;

/** One part of the plan: the previous version, or the schema. */
interface PlanPart {
  ok: boolean;
  summary: string;
  data: Record<string, unknown>;
}

/**
 * The previous version can take the traffic back: it is known and its instances are ready. With a
 * migrations block and `rollback.migrations: down`, every pending migration must also have a down step.
 */
export const rollbackPlanCheck: CheckKind<RollbackPlanParams> = {
  kind: 'rollback-plan',
  params: z.strictObject({}).describe('No params: the plan is read from the release itself.'),
  async run(_params, context): Promise<CheckResult> {
    const version = previousVersionPart(context);
    const schema = await migrationsPart(context);
    if (schema === undefined) return version;
    const parts = [version, schema];
    const ok = parts.every((part) => part.ok);
    // A failure leads with what is wrong; a pass states the whole plan.
    const shown = ok ? parts : parts.filter((part) => !part.ok);
    return {
      ok,
      summary: shown.map((part) => part.summary).join('; '),
      data: { ...version.data, migrations: schema.data },
    };
  },
};

function previousVersionPart(context: CheckContext): PlanPart {
  const previous = context.fromVersion;
  if (!previous) {
    return { ok: true, summary: 'first release of the service: rolling back means stopping it', data: {} };
  }
  const instances = context.instances(previous);
  const ready = instances.filter((i) => i.state === 'ready').length;
  const data = { previous, ready, instances: instances.length };
  if (ready === 0) {
    return { ok: false, summary: `previous version ${previous} has no ready instance to roll back to`, data };
  }
  return {
    ok: true,
    summary: `previous version ${previous} is running (${ready} of ${instances.length} ready) and takes traffic back at once`,
    data,
  };
}

/** What a rollback does to the schema; undefined when the config has no migrations block. */
async function migrationsPart(context: CheckContext): Promise<PlanPart | undefined> {
  const mode = context.config.rollback.migrations;
  let migrator;
  try {
    migrator = createMigrator(context.config, context.configDir);
  } catch (err) {
    return { ok: false, summary: `migrations: ${errorMessage(err)}`, data: { mode } };
  }
  if (migrator === undefined) return undefined;
  if (mode === 'keep') {
    // Nothing to verify: a rollback leaves the schema alone, so the old version must cope with it.
    return {
      ok: true,
      summary: 'rollback.migrations: keep — migrations stay applied on rollback',
      data: { mode },
    };
  }
  let pending: { id: string; reversible: boolean }[];
  try {
    pending = await migrator.pending({ signal: context.signal });
  } catch (err) {
    return { ok: false, summary: errorMessage(err), data: { mode } };
  }
  const irreversible = pending.filter((m) => !m.reversible).map((m) => m.id);
  const data = { mode, pending: pending.map((m) => m.id), irreversible };
  if (irreversible.length > 0) return { ok: false, summary: describeIrreversible(irreversible), data };
  if (pending.length === 0) return { ok: true, summary: 'no pending migrations to undo on rollback', data };
  const count =
    pending.length === 1 ? '1 pending migration has' : `${pending.length} pending migrations have`;
  return { ok: true, summary: `${count} a down step for rollback (rollback.migrations: down)`, data };
}
