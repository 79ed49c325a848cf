/**
 * `shipcheck statuspage ...`: the public status page through the API. `components` lists each
 * component's shown, derived and overridden status; `set` and `clear` override one by hand;
 * `incident open|update|resolve|list` and `maintenance add|update|list` post what the public reads;
 * `subscribers` counts who hears of it. Reading takes a viewer, changing a deployer.
 */
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { parseDuration } from '../../util/duration.js';
import type { ApiShape } from '../api-shapes.js';
import { type LoginOptions, signIn } from '../sign-in.js';
import { formatTable, formatTime } from '../table.js';
import type { GlobalOptions, Io } from '../target.js';

/** A component as `GET /api/v1/status-page/components` answers it. */
interface ComponentAnswer {
  id: string;
  name: string;
  status: string;
  derived: string;
  override: { status: string; until: number | null; reason: string | null; setBy: string } | null;
  units: string[];
}

/** A page incident or maintenance as the admin API answers it. */
interface IncidentAnswer {
  publicId: string;
  kind: string;
  name: string;
  status: string;
  impact: string;
  components: string[];
  startedAt: number;
  scheduledFor: number | null;
  scheduledUntil: number | null;
  updates: { status: string; body: string; displayAt: number }[];
}

const component = z.looseObject({
  id: z.string(),
  name: z.string(),
  status: z.string(),
  derived: z.string(),
  override: z
    .looseObject({
      status: z.string(),
      until: z.number().nullable(),
      reason: z.string().nullable(),
      setBy: z.string(),
    })
    .nullable(),
  units: z.array(z.string()),
});
const incident = z.looseObject({
  publicId: z.string(),
  kind: z.string(),
  name: z.string(),
  status: z.string(),
  impact: z.string(),
  components: z.array(z.string()),
  startedAt: z.number(),
  scheduledFor: z.number().nullable(),
  scheduledUntil: z.number().nullable(),
  updates: z.array(z.looseObject({ status: z.string(), body: z.string(), displayAt: z.number() })),
});
const componentShape: ApiShape<ComponentAnswer> = { what: 'a status page component', schema: component };
const componentsShape: ApiShape<{ components: ComponentAnswer[] }> = {
  what: 'the status page components',
  schema: z.looseObject({ components: z.array(component) }),
};
const incidentShape: ApiShape<IncidentAnswer> = { what: 'a status page incident', schema: incident };
const incidentsShape: ApiShape<{ incidents: IncidentAnswer[] }> = {
  what: 'the status page incidents',
  schema: z.looseObject({ incidents: z.array(incident) }),
};
const maintenancesShape: ApiShape<{ maintenances: IncidentAnswer[] }> = {
  what: 'the scheduled maintenances',
  schema: z.looseObject({ maintenances: z.array(incident) }),
};
const subscribersShape: ApiShape<{ subscribers: { kind: string; state: string; count: number }[] }> = {
  what: 'the subscriber counts',
  schema: z.looseObject({
    subscribers: z.array(z.looseObject({ kind: z.string(), state: z.string(), count: z.number() })),
  }),
};

/** Options every statuspage command takes. */
export type StatuspageOptions = GlobalOptions & LoginOptions;

/**
 * A time from the command line: ISO 8601 (`2026-05-14T14:00:00Z`), or a duration (`2h`, `30m`)
 * counted from `from`. Returned as ISO 8601 for the API.
 */
export function parseWhen(flag: string, text: string, from: number): string {
  const duration = parseDuration(text);
  if (duration !== undefined) return new Date(from + duration).toISOString();
  const at = Date.parse(text);
  if (Number.isNaN(at))
    throw new InputError(
      `${flag} ${text}: give an ISO 8601 time (2026-05-14T14:00:00Z) or a duration (2h, 30m)`,
    );
  return new Date(at).toISOString();
}

async function withClient<T>(
  opts: StatuspageOptions,
  io: Io,
  act: (client: Awaited<ReturnType<typeof signIn>>['client']) => Promise<T>,
  print: (answer: T) => string[],
): Promise<number> {
  const { client, end } = await signIn(opts, opts);
  try {
    const answer = await act(client);
    if (opts.json) io.out(JSON.stringify(answer, null, 2));
    else print(answer).forEach((line) => io.out(line));
    return 0;
  } finally {
    await end();
  }
}

function describeComponent(c: ComponentAnswer): string {
  const override = c.override
    ? ` (set by ${c.override.setBy}${c.override.until !== null ? ` until ${formatTime(c.override.until)}` : ''}; derived: ${c.derived})`
    : '';
  return `${c.name} is ${c.status}${override}`;
}

function describeIncident(i: IncidentAnswer): string[] {
  const window =
    i.scheduledFor !== null && i.scheduledUntil !== null
      ? ` ${formatTime(i.scheduledFor)} to ${formatTime(i.scheduledUntil)}`
      : '';
  const last = i.updates[0];
  return [
    `${i.kind} ${i.publicId}: ${i.name} (${i.status}${i.kind === 'incident' ? `, ${i.impact} impact` : ''})${window}`,
    ...(last ? [`  ${formatTime(last.displayAt)} ${last.status}: ${last.body}`] : []),
  ];
}

/** `shipcheck statuspage components`: each component's shown, derived and overridden status. */
export async function statuspageComponentsCommand(opts: StatuspageOptions, io: Io): Promise<number> {
  return withClient(
    opts,
    io,
    (client) => client.get('/api/v1/status-page/components', componentsShape),
    ({ components }) =>
      formatTable(
        ['ID', 'COMPONENT', 'STATUS', 'DERIVED', 'OVERRIDE', 'UNITS'],
        components.map((c) => [
          c.id,
          c.name,
          c.status,
          c.derived,
          c.override
            ? `${c.override.status} by ${c.override.setBy}${c.override.until !== null ? ` until ${formatTime(c.override.until)}` : ''}`
            : '-',
          c.units.join(', ') || '-',
        ]),
      ),
  );
}

/** `shipcheck statuspage set COMPONENT STATUS [--until T] [--reason R]`: overrides a component's status. */
export async function statuspageSetCommand(
  ref: string,
  status: string,
  opts: StatuspageOptions & { until?: string; reason?: string },
  io: Io,
): Promise<number> {
  const body = {
    status,
    ...(opts.until !== undefined ? { until: parseWhen('--until', opts.until, Date.now()) } : {}),
    ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
  };
  return withClient(
    opts,
    io,
    (client) =>
      client.post(`/api/v1/status-page/components/${encodeURIComponent(ref)}/override`, body, componentShape),
    (c) => [describeComponent(c)],
  );
}

/** `shipcheck statuspage clear COMPONENT`: the component shows its derived status again. */
export async function statuspageClearCommand(ref: string, opts: StatuspageOptions, io: Io): Promise<number> {
  return withClient(
    opts,
    io,
    (client) =>
      client.post(
        `/api/v1/status-page/components/${encodeURIComponent(ref)}/override/clear`,
        {},
        componentShape,
      ),
    (c) => [describeComponent(c)],
  );
}

/** `incident open` flags. */
export interface IncidentOpenOptions extends StatuspageOptions {
  name: string;
  body: string;
  status?: string;
  impact?: string;
  component?: string[];
  internalIncident?: string;
}

/** `shipcheck statuspage incident open --name N --body B [--impact I] [--component C]...`. */
export async function statuspageIncidentOpenCommand(opts: IncidentOpenOptions, io: Io): Promise<number> {
  let internalIncidentId: number | undefined;
  if (opts.internalIncident !== undefined) {
    internalIncidentId = Number(opts.internalIncident);
    if (!Number.isInteger(internalIncidentId) || internalIncidentId <= 0)
      throw new InputError(`--internal-incident ${opts.internalIncident}: give the incident's number`);
  }
  const body = {
    name: opts.name,
    body: opts.body,
    ...(opts.status !== undefined ? { status: opts.status } : {}),
    ...(opts.impact !== undefined ? { impact: opts.impact } : {}),
    ...(opts.component !== undefined ? { components: opts.component } : {}),
    ...(internalIncidentId !== undefined ? { internalIncidentId } : {}),
  };
  return withClient(
    opts,
    io,
    (client) => client.post('/api/v1/status-page/incidents', body, incidentShape),
    describeIncident,
  );
}

/** `shipcheck statuspage incident update ID --body B [--status S] [--impact I]`. */
export async function statuspageIncidentUpdateCommand(
  id: string,
  opts: StatuspageOptions & { body: string; status?: string; impact?: string },
  io: Io,
): Promise<number> {
  const body = {
    body: opts.body,
    ...(opts.status !== undefined ? { status: opts.status } : {}),
    ...(opts.impact !== undefined ? { impact: opts.impact } : {}),
  };
  return withClient(
    opts,
    io,
    (client) =>
      client.post(`/api/v1/status-page/incidents/${encodeURIComponent(id)}/updates`, body, incidentShape),
    describeIncident,
  );
}

/** `shipcheck statuspage incident resolve ID [--body B]`. */
export async function statuspageIncidentResolveCommand(
  id: string,
  opts: StatuspageOptions & { body?: string },
  io: Io,
): Promise<number> {
  return withClient(
    opts,
    io,
    (client) =>
      client.post(
        `/api/v1/status-page/incidents/${encodeURIComponent(id)}/resolve`,
        opts.body !== undefined ? { body: opts.body } : {},
        incidentShape,
      ),
    describeIncident,
  );
}

/** `shipcheck statuspage incident list`: the 50 most recent page incidents. */
export async function statuspageIncidentListCommand(opts: StatuspageOptions, io: Io): Promise<number> {
  return withClient(
    opts,
    io,
    (client) => client.get('/api/v1/status-page/incidents', incidentsShape),
    ({ incidents }) => (incidents.length === 0 ? ['no incidents'] : incidents.flatMap(describeIncident)),
  );
}

/** `maintenance add` flags. */
export interface MaintenanceAddOptions extends StatuspageOptions {
  name: string;
  component: string[];
  from: string;
  until: string;
  body?: string;
}

/** `shipcheck statuspage maintenance add --name N --component C... --from T --until T|DURATION`. */
export async function statuspageMaintenanceAddCommand(opts: MaintenanceAddOptions, io: Io): Promise<number> {
  const scheduledFor = parseWhen('--from', opts.from, Date.now());
  const body = {
    name: opts.name,
    components: opts.component,
    scheduledFor,
    scheduledUntil: parseWhen('--until', opts.until, Date.parse(scheduledFor)),
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  };
  return withClient(
    opts,
    io,
    (client) => client.post('/api/v1/status-page/maintenances', body, incidentShape),
    describeIncident,
  );
}

/** `shipcheck statuspage maintenance update ID [--status S] [--body B] [--from T] [--until T]`. */
export async function statuspageMaintenanceUpdateCommand(
  id: string,
  opts: StatuspageOptions & { status?: string; body?: string; from?: string; until?: string },
  io: Io,
): Promise<number> {
  const scheduledFor = opts.from !== undefined ? parseWhen('--from', opts.from, Date.now()) : undefined;
  const body = {
    ...(opts.status !== undefined ? { status: opts.status } : {}),
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    ...(scheduledFor !== undefined ? { scheduledFor } : {}),
    ...(opts.until !== undefined
      ? {
          scheduledUntil: parseWhen(
            '--until',
            opts.until,
            scheduledFor ? Date.parse(scheduledFor) : Date.now(),
          ),
        }
      : {}),
  };
  return withClient(
    opts,
    io,
    (client) =>
      client.post(`/api/v1/status-page/maintenances/${encodeURIComponent(id)}/updates`, body, incidentShape),
    describeIncident,
  );
}

/** `shipcheck statuspage maintenance list`: the 50 latest scheduled maintenances. */
export async function statuspageMaintenanceListCommand(opts: StatuspageOptions, io: Io): Promise<number> {
  return withClient(
    opts,
    io,
    (client) => client.get('/api/v1/status-page/maintenances', maintenancesShape),
    ({ maintenances }) =>
      maintenances.length === 0 ? ['no maintenances'] : maintenances.flatMap(describeIncident),
  );
}

/** `shipcheck statuspage subscribers`: how many subscribers there are, by kind and state. */
export async function statuspageSubscribersCommand(opts: StatuspageOptions, io: Io): Promise<number> {
  return withClient(
    opts,
    io,
    (client) => client.get('/api/v1/status-page/subscribers', subscribersShape),
    ({ subscribers }) =>
      formatTable(
        ['KIND', 'STATE', 'COUNT'],
        subscribers.map((s) => [s.kind, s.state, String(s.count)]),
      ),
  );
}
