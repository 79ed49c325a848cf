import { z } from 'zod';
import { componentId } from '../../comms/status-page/page-words.js';
import { unitMatches } from '../../comms/status-page/derive.js';
import type { CheckKind, CheckResult } from '../types.js';

/** Page incident statuses that are not over yet. */
const OPEN_INCIDENT = ['investigating', 'identified', 'monitoring'];
/** Maintenance statuses that still hold their components. */
const OPEN_MAINTENANCE = ['in_progress', 'verifying'];
/** Most open entries of each kind looked through. */
const MAX_OPEN = 200;

const statusPageParamsSchema = z.strictObject({
  check: z
    .enum(['updated', 'listed'])
    .prefault('updated')
    .describe(
      'updated: nothing the page shows about this service is left open (a maintenance in progress, an unresolved incident); listed: the service is shown on a component.',
    ),
});

/** Validated `status-page` params. */
export type StatusPageParams = z.output<typeof statusPageParamsSchema>;

/**
 * `status-page`: the seed's "Update status page" and "Status page updates". `listed` passes when a
 * component of `statusPage` shows the release's unit; `updated` also passes only when no maintenance
 * is still in progress and no incident is still unresolved on those components, naming what is.
 * Without a status page it is inconclusive, for a person to sign.
 */
export const statusPageCheck: CheckKind<StatusPageParams> = {
  kind: 'status-page',
  params: statusPageParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const page = context.config.statusPage;
    if (!page) return { ok: false, inconclusive: true, summary: 'no statusPage is configured' };
    const unit = context.unit ?? context.service;
    const components = page.components.filter((c) => c.services.some((ref) => unitMatches(ref, unit)));
    if (components.length === 0)
      return {
        ok: false,
        summary: `${unit} is on no status page component; name it in statusPage.components[].services`,
      };
    const names = components.map((c) => c.name).join(', ');
    if (params.check === 'listed')
      return { ok: true, summary: `${unit} is shown on the status page as ${names}` };
    const store = context.store;
    if (!store) return { ok: false, inconclusive: true, summary: 'the status page cannot be read here' };
    const ids = new Set(components.map(componentId));
    const open = [
      ...(await store.statusPage.listIncidents('incident', { statuses: OPEN_INCIDENT, limit: MAX_OPEN })),
      ...(await store.statusPage.listIncidents('maintenance', {
        statuses: OPEN_MAINTENANCE,
        limit: MAX_OPEN,
      })),
    ].filter((entry) => entry.components.some((id) => ids.has(id)));
    // Something left open is for a person to close, not a reason to roll a good release back.
    if (open.length > 0)
      return {
        ok: false,
        inconclusive: true,
        summary: `still open on the status page for ${names}: ${open.map((e) => `${e.kind} "${e.name}" (${e.status})`).join('; ')}`,
        data: { open: open.map((e) => ({ id: e.publicId, kind: e.kind, status: e.status })) },
      };
    return { ok: true, summary: `nothing is left open on the status page for ${names}` };
  },
};
