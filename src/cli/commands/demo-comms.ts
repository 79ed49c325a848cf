/**
 * The demo's communication part: it adds the on-call pair with their email addresses, and after the
 * automated rollback it follows, with nobody acting, what the policy does: the incident, the page
 * to the primary, the escalation to the secondary, the status page, and the resolution.
 */
import { z } from 'zod';
import type { ApiShape } from '../api-shapes.js';
import type { ApiClient } from '../client.js';
import type { Io } from '../target.js';
import type { DemoMailServer } from './demo-mail.js';

/** The on-call pair the demo pages (its config's schedules name them). */
export const DEMO_ONCALL = { primary: 'ana', secondary: 'ben' } as const;
/** How long the demo waits for each step of the rollback's communication. */
const STEP_WAIT_MS = 30_000;
const POLL_MS = 250;

const incidentSchema = z.looseObject({
  id: z.number(),
  key: z.string(),
  state: z.string(),
  source: z.string(),
  title: z.string(),
});
type DemoIncident = z.infer<typeof incidentSchema>;
const incidentsShape: ApiShape<{ incidents: DemoIncident[] }> = {
  what: 'the incidents',
  schema: z.looseObject({ incidents: z.array(incidentSchema) }),
};
const anyShape: ApiShape<unknown> = { what: 'an answer', schema: z.unknown() };

/** What the status page's Statuspage v2 summary says of the demo's component. */
interface Summary {
  status: { description: string };
  components: { name: string; status: string }[];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it gives a value, or gives undefined after `STEP_WAIT_MS`. */
async function within<T>(check: () => Promise<T | undefined>): Promise<T | undefined> {
  const end = Date.now() + STEP_WAIT_MS;
  for (;;) {
    const found = await check();
    if (found !== undefined || Date.now() > end) return found;
    await sleep(POLL_MS);
  }
}

/** Adds the on-call pair as users who deploy, each with an email contact method, as an admin would. */
export async function addOnCallPeople(client: ApiClient): Promise<void> {
  for (const name of [DEMO_ONCALL.primary, DEMO_ONCALL.secondary]) {
    await client.post('/api/v1/users', { name, roles: ['deployer'] }, anyShape);
    await client.post(
      `/api/v1/users/${name}/contact-methods`,
      { type: 'email', value: `${name}@demo.example` },
      anyShape,
    );
  }
}

/**
 * After release `releaseId` was rolled back automatically: waits for, prints and checks each thing
 * the communication policy does with no human.
 */
export async function followCommunication(
  apiUrl: string,
  client: ApiClient,
  mail: DemoMailServer,
  releaseId: number,
  expect: (ok: boolean, what: string) => void,
  io: Io,
): Promise<void> {
  io.out('');
  io.out('== what the automated rollback told people (nobody acknowledges; the demo only watches)');
  const key = `rollback:demo#${releaseId}`;
  const incident = async (): Promise<DemoIncident | undefined> =>
    (await client.get('/api/v1/incidents?limit=20', incidentsShape)).incidents.find((i) => i.key === key);
  const opened = await within(incident);
  expect(
    opened !== undefined,
    `an incident was opened: ${opened ? `#${opened.id} ${opened.title}` : 'none'}`,
  );
  const mailTo = (user: string): Promise<string | undefined> =>
    within(
      async () =>
        mail.messages.find((m) => m.to.includes(`${user}@demo.example`) && /Incident #/.test(m.subject))
          ?.subject,
    );
  const primary = await mailTo(DEMO_ONCALL.primary);
  expect(
    primary !== undefined,
    `the primary on call (${DEMO_ONCALL.primary}) was paged by email: ${primary ?? 'no mail'}`,
  );
  const secondary = await mailTo(DEMO_ONCALL.secondary);
  expect(
    secondary !== undefined,
    `nobody acknowledged, so it escalated to the secondary (${DEMO_ONCALL.secondary}): ${secondary ?? 'no mail'}`,
  );
  const summary = async (): Promise<Summary> =>
    (await (await fetch(`${apiUrl}/api/v2/summary.json`)).json()) as Summary;
  const during = await summary();
  const shop = during.components.find((c) => c.name === 'Shop');
  expect(
    shop?.status === 'degraded_performance',
    `the status page shows the Shop ${shop?.status ?? 'missing'} ("${during.status.description}") at ${apiUrl}/status`,
  );
  io.out(`  the rollback is verified; the incident is monitored before it resolves by itself...`);
  const resolved = await within(async () => {
    const now = await incident();
    return now?.state === 'resolved' ? now : undefined;
  });
  expect(resolved !== undefined, `the incident resolved once the rollback was verified and monitored`);
  const after = (await summary()).components.find((c) => c.name === 'Shop');
  expect(
    after?.status === 'operational',
    `the Shop is back to ${after?.status ?? 'missing'} on the status page`,
  );
  const told = mail.messages.filter((m) => m.to.includes('releases@demo.example')).map((m) => m.subject);
  expect(
    told.some((s) => /rolled back/.test(s)),
    `the releases list heard of the rollback: ${told.at(-1) ?? 'no mail'}`,
  );
}
