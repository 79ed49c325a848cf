import { z } from 'zod';
import type { CheckKind } from '../types.js';

/** `rollback-plan` takes no params. */
export type RollbackPlanParams = Record<string, never>;

/** The previous version can take the traffic back: it is known and its instances are ready. */
export const rollbackPlanCheck: CheckKind<RollbackPlanParams> = {
  kind: 'rollback-plan',
  params: z.strictObject({}).describe('No params: the plan is read from the release itself.'),
  async run(_params, context) {
    const previous = context.fromVersion;
    if (!previous) {
      return { ok: true, summary: 'first release of the service: rolling back means stopping it' };
    }
    const instances = context.instances(previous);
    const ready = instances.filter((i) => i.state === 'ready').length;
    const data = { previous, ready, instances: instances.length };
    if (ready === 0) {
      return {
        ok: false,
        summary: `previous version ${previous} has no ready instance to roll back to`,
        data,
      };
    }
    return {
      ok: true,
      summary: `previous version ${previous} is running (${ready} of ${instances.length} ready) and takes traffic back at once`,
      data,
    };
  },
};
