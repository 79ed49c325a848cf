/**
 * `shipcheck statuspage ...`: the public status page through the API. `components` lists each
 * component's shown, derived and overridden status; `set` and `clear` override one by hand;
 * `incident open|update|resolve|list` and `maintenance add|update|list` post what the public reads;
 * `subscribers` counts who hears of it. Reading takes a viewer, changing a deployer.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { parseDuration } from '../../util/duration.js';
import type { ApiShape } from '../api-shapes.js';
import { type LoginOptions, signIn } from '../sign-in.js';
import { formatTable, formatTime } from '../table.js';
import { type CommandDeps, type GlobalOptions, type Io, collect } from '../target.js';

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

/** Adds `shipcheck statuspage ...` to `program`. */
export function registerStatuspageCommands(program: Command, deps: CommandDeps): void {
  const { io, globals, run, withLogin } = deps;
  type Login = { login?: string; passwordStdin?: boolean };
  const statuspage = program
    .command('statuspage')
    .description('the public status page: components, overrides, incidents, maintenances, subscribers');
  withLogin(
    statuspage.command('components').description("each component's shown, derived and overridden status"),
  ).action(run(async (o: Login) => statuspageComponentsCommand({ ...globals(), ...o }, io)));
  withLogin(
    statuspage
      .command('set <component> <status>')
      .description(
        'show STATUS on a component by hand: operational, degraded_performance, partial_outage, major_outage or under_maintenance',
      )
      .option(
        '--until <time>',
        'when the override ends: an ISO 8601 time or a duration such as 2h (default: until cleared)',
      )
      .option('--reason <text>', 'why, for the admin view'),
  ).action(
    run(async (ref: string, status: string, o: Login & { until?: string; reason?: string }) =>
      statuspageSetCommand(ref, status, { ...globals(), ...o }, io),
    ),
  );
  withLogin(
    statuspage
      .command('clear <component>')
      .description('clear the override: the component shows its derived status'),
  ).action(run(async (ref: string, o: Login) => statuspageClearCommand(ref, { ...globals(), ...o }, io)));
  const pageIncident = statuspage.command('incident').description('incidents on the status page');
  withLogin(
    pageIncident
      .command('open')
      .description('open an incident with its first public update; subscribers are told')
      .requiredOption('--name <name>', 'its title')
      .requiredOption('--body <text>', 'the first update')
      .option('--status <status>', 'investigating (default), identified or monitoring')
      .option('--impact <impact>', 'none, minor (default), major or critical')
      .option('--component <component>', 'an affected component (repeat for more)', collect, [])
      .option('--internal-incident <id>', 'the internal incident it is linked to'),
  ).action(
    run(
      async (
        o: Login & {
          name: string;
          body: string;
          status?: string;
          impact?: string;
          component?: string[];
          internalIncident?: string;
        },
      ) => statuspageIncidentOpenCommand({ ...globals(), ...o }, io),
    ),
  );
  withLogin(
    pageIncident
      .command('update <id>')
      .description('post an update to an incident')
      .requiredOption('--body <text>', 'what the update says')
      .option('--status <status>', 'investigating, identified, monitoring, resolved or postmortem')
      .option('--impact <impact>', 'none, minor, major or critical'),
  ).action(
    run(async (id: string, o: Login & { body: string; status?: string; impact?: string }) =>
      statuspageIncidentUpdateCommand(id, { ...globals(), ...o }, io),
    ),
  );
  withLogin(
    pageIncident
      .command('resolve <id>')
      .description('resolve an incident with a last update')
      .option('--body <text>', 'what the last update says'),
  ).action(
    run(async (id: string, o: Login & { body?: string }) =>
      statuspageIncidentResolveCommand(id, { ...globals(), ...o }, io),
    ),
  );
  withLogin(pageIncident.command('list').description('the 50 most recent incidents')).action(
    run(async (o: Login) => statuspageIncidentListCommand({ ...globals(), ...o }, io)),
  );
  const maintenance = statuspage
    .command('maintenance')
    .description('scheduled maintenances on the status page');
  withLogin(
    maintenance
      .command('add')
      .description('schedule a maintenance; its components are under maintenance while it is in progress')
      .requiredOption('--name <name>', 'its title')
      .requiredOption('--component <component>', 'a component it covers (repeat for more)', collect, [])
      .requiredOption('--from <time>', 'when it starts: an ISO 8601 time, or a duration from now such as 1d')
      .requiredOption(
        '--until <time>',
        'when it ends: an ISO 8601 time, or a duration from --from such as 2h',
      )
      .option('--body <text>', 'what its first update says'),
  ).action(
    run(
      async (o: Login & { name: string; component: string[]; from: string; until: string; body?: string }) =>
        statuspageMaintenanceAddCommand({ ...globals(), ...o }, io),
    ),
  );
  withLogin(
    maintenance
      .command('update <id>')
      .description('post an update to a maintenance, or move its window')
      .option('--status <status>', 'scheduled, in_progress, verifying or completed')
      .option('--body <text>', 'what the update says')
      .option('--from <time>', 'a new start')
      .option('--until <time>', 'a new end'),
  ).action(
    run(async (id: string, o: Login & { status?: string; body?: string; from?: string; until?: string }) =>
      statuspageMaintenanceUpdateCommand(id, { ...globals(), ...o }, io),
    ),
  );
  withLogin(maintenance.command('list').description('the 50 latest scheduled maintenances')).action(
    run(async (o: Login) => statuspageMaintenanceListCommand({ ...globals(), ...o }, io)),
  );
  withLogin(
    statuspage.command('subscribers').description('how many subscribers there are, by kind and state'),
  ).action(run(async (o: Login) => statuspageSubscribersCommand({ ...globals(), ...o }, io)));
}
