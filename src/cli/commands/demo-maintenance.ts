/**
 * The demo's scheduled checks: its config runs two cheap automated items every few seconds
 * (`maintenance.schedules`), so by the end of the releases they have run on their own many times.
 * This part prints the `shipcheck maintenance` table and checks that runs happened with nobody asking.
 */
import { z } from 'zod';
import type { ApiShape } from '../api-shapes.js';
import type { ApiClient } from '../client.js';
import type { Io } from '../target.js';
import { entriesShape, formatMaintenance } from './maintenance.js';

/** The items the demo's config schedules every few seconds. */
export const DEMO_SCHEDULED = [
  'security/data-protection/key-rotation-schedule',
  'incident-response/communication-channels/status-page-updates',
] as const;
/** The config lines that do it, under the demo's top level. */
export const DEMO_MAINTENANCE_CONFIG = `maintenance:
  schedules:
${DEMO_SCHEDULED.map((id) => `    ${id}: "*/3 * * * * *"`).join('\n')}
`;
/** How long the demo waits for a first scheduled run, should the releases have been quicker than a slot. */
const WAIT_MS = 10_000;
const POLL_MS = 250;

const runsShape: ApiShape<{ runs: { state: string; trigger: string }[] }> = {
  what: 'the runs of a scheduled item',
  schema: z.looseObject({ runs: z.array(z.looseObject({ state: z.string(), trigger: z.string() })) }),
};

/** Prints the maintenance table and expects the demo's scheduled items to have passed on their own. */
export async function demoMaintenance(
  client: ApiClient,
  io: Io,
  expect: (ok: boolean, what: string) => void,
): Promise<void> {
  const runsOf = async (id: string) =>
    (await client.get(`/api/v1/services/demo/maintenance/${encodeURIComponent(id)}/runs`, runsShape)).runs;
  const end = Date.now() + WAIT_MS;
  while (Date.now() < end) {
    const counts = await Promise.all(DEMO_SCHEDULED.map(async (id) => (await runsOf(id)).length));
    if (counts.every((n) => n > 0)) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  io.out('');
  io.out('Scheduled checks between releases (shipcheck maintenance):');
  const { items } = await client.get('/api/v1/maintenance?service=demo', entriesShape);
  formatMaintenance(items.filter((item) => item.schedule !== null && item.automated)).forEach((line) =>
    io.out(`  ${line}`),
  );
  for (const id of DEMO_SCHEDULED) {
    const runs = await runsOf(id);
    const scheduled = runs.filter((run) => run.trigger === 'schedule');
    const passed = scheduled.filter((run) => run.state === 'passed').length;
    expect(
      scheduled.length > 0 && passed > 0 && runs.every((run) => run.trigger === 'schedule'),
      `${id} ran ${scheduled.length} time(s) on its own every 3s, ${passed} passed, with nobody asking`,
    );
  }
}
