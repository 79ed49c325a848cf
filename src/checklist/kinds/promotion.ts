import { z } from 'zod';
import type { CheckContext, CheckKind, CheckResult } from '../types.js';

/** Params of the promotion checks: the environment the version must have gone through. */
export interface PromotionParams {
  environment: string;
}

const params = z.strictObject({
  environment: z.string().min(1).describe('The environment before this one in promotion order.'),
});

/** The newest release of this version that succeeded in `environment`, or a failing result. */
async function succeededIn(
  environment: string,
  context: CheckContext,
): Promise<{ id: number; endedAt: number | null } | CheckResult> {
  if (!context.history) return { ok: false, summary: 'no release history available to this check' };
  const releases = await context.history.releases(environment);
  const match = releases.find((r) => r.version === context.version && r.state === 'succeeded');
  if (match) return { id: match.id, endedAt: match.endedAt };
  const tried = releases.find((r) => r.version === context.version);
  return {
    ok: false,
    summary: tried
      ? `${context.version} did not succeed in ${environment}: release #${tried.id} is ${tried.state}`
      : `${context.version} has not been deployed to ${environment}; deploy it there first (shipcheck deploy ${context.version} --env ${environment})`,
  };
}

/** The version being released succeeded in the environment before this one. */
export const promotedCheck: CheckKind<PromotionParams> = {
  kind: 'promoted',
  params,
  async run({ environment }, context) {
    const found = await succeededIn(environment, context);
    if ('ok' in found) return found;
    const when = found.endedAt ? ` at ${new Date(found.endedAt).toISOString()}` : '';
    return {
      ok: true,
      summary: `${context.version} succeeded in ${environment} (release #${found.id}${when})`,
      data: { release: found.id },
    };
  },
};

/** The version's migrations were rehearsed in the environment before this one (or it has none). */
export const rehearsedCheck: CheckKind<PromotionParams> = {
  kind: 'rehearsed',
  params,
  async run({ environment }, context) {
    const found = await succeededIn(environment, context);
    if ('ok' in found) return found;
    const items = await context.history!.checklist(found.id);
    const rehearsal = items.find((i) => i.kind === 'migration-rehearsal');
    const last = rehearsal?.evidence.at(-1);
    if (!rehearsal || !rehearsal.automated) {
      return context.config.migrations
        ? {
            ok: false,
            summary: `release #${found.id} in ${environment} has no automated migration rehearsal item`,
          }
        : { ok: true, summary: `no migrations configured; release #${found.id} in ${environment} succeeded` };
    }
    if (rehearsal.state !== 'passed') {
      return {
        ok: false,
        summary: `migration rehearsal in ${environment} (release #${found.id}) is ${rehearsal.state}`,
      };
    }
    return {
      ok: true,
      summary: `rehearsed in ${environment} (release #${found.id}): ${last?.summary ?? 'passed'}`,
      data: { release: found.id },
    };
  },
};
