/**
 * `shipcheck incident ...`: list, show, open, acknowledge, resolve, note and postmortem incidents,
 * through the API (a viewer reads, a deployer changes). An unknown id is the API's 404, printed as one
 * line, with exit status 1.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { SEVERITIES, type Incident, type TimelineEntry } from '../../comms/incidents/types.js';
import { InputError } from '../../errors.js';
import type { ApiShape } from '../api-shapes.js';
import { formatTable, formatTime } from '../table.js';
import { type GlobalOptions, type Io, resolveServer } from '../target.js';

const incident = z.looseObject({
  id: z.number().int().positive(),
  key: z.string(),
  title: z.string(),
  severity: z.string(),
  state: z.string(),
  source: z.string(),
  service: z.string().nullable(),
  policy: z.string().nullable(),
  public: z.boolean(),
  postmortem: z.string().nullable(),
  acknowledgedBy: z.string().nullable(),
  resolvedBy: z.string().nullable(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
const entry = z.looseObject({ at: z.number(), actor: z.string(), kind: z.string(), message: z.string() });

const listShape: ApiShape<{ incidents: Incident[] }> = {
  what: 'a list of incidents',
  schema: z.looseObject({ incidents: z.array(incident) }),
};
const detailShape: ApiShape<{ incident: Incident; timeline: TimelineEntry[] }> = {
  what: 'an incident',
  schema: z.looseObject({ incident, timeline: z.array(entry) }),
};

/** `incident list` flags; `-s/--service` is the global flag. */
export interface IncidentListOptions extends GlobalOptions {
  state?: string;
  limit?: string;
}

/** `incident open` flags; `-s/--service` is the global flag. */
export interface IncidentOpenOptions extends GlobalOptions {
  severity?: string;
  policy?: string;
  public?: boolean;
  key?: string;
  message?: string;
}

function parseId(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) <= 0)
    throw new InputError(`incident id "${raw}" is not a positive integer`);
  return Number(raw);
}

function checkSeverity(value: string | undefined): void {
  if (value !== undefined && !(SEVERITIES as readonly string[]).includes(value))
    throw new InputError(`--severity ${value}: use one of ${SEVERITIES.join(', ')}`);
}

/** `12m`, `3h`, `2d`: how long ago `at` was. */
function age(at: number, now: number): string {
  const minutes = Math.max(0, Math.floor((now - at) / 60_000));
  if (minutes < 60) return `${minutes}m`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)}h`;
  return `${Math.floor(minutes / 1440)}d`;
}

function printDetail(
  detail: { incident: Incident; timeline: TimelineEntry[] },
  opts: GlobalOptions,
  io: Io,
): void {
  if (opts.json) {
    io.out(JSON.stringify(detail, null, 2));
    return;
  }
  const i = detail.incident;
  io.out(`#${i.id} ${i.title}`);
  io.out(
    `  state:     ${i.state}${i.acknowledgedBy && i.state === 'acknowledged' ? ` (by ${i.acknowledgedBy})` : ''}${i.resolvedBy ? ` (by ${i.resolvedBy})` : ''}`,
  );
  io.out(`  severity:  ${i.severity}`);
  io.out(`  service:   ${i.service ?? '-'}`);
  io.out(`  source:    ${i.source}, key ${i.key}`);
  io.out(`  policy:    ${i.policy ?? '-'}`);
  io.out(`  public:    ${i.public ? 'yes' : 'no'}`);
  io.out(`  opened:    ${formatTime(i.createdAt)}`);
  if (i.postmortem) io.out(`  postmortem: ${i.postmortem}`);
  io.out('');
  formatTable(
    ['AT', 'ACTOR', 'KIND', 'MESSAGE'],
    detail.timeline.map((e) => [formatTime(e.at), e.actor, e.kind, e.message.replace(/\s+/g, ' ')]),
  ).forEach((line) => io.out(line));
}

/** `shipcheck incident list [--state S] [-s SERVICE] [--limit N] [--json]`: newest first. */
export async function incidentListCommand(opts: IncidentListOptions, io: Io): Promise<number> {
  const query = new URLSearchParams();
  if (opts.state) query.set('state', opts.state);
  if (opts.service) query.set('service', opts.service);
  if (opts.limit) query.set('limit', opts.limit);
  const { client } = await resolveServer(opts);
  const text = query.toString();
  const { incidents } = await client.get(`/api/v1/incidents${text ? `?${text}` : ''}`, listShape);
  if (opts.json) {
    io.out(JSON.stringify({ incidents }, null, 2));
    return 0;
  }
  if (incidents.length === 0) {
    io.out('no incidents');
    return 0;
  }
  const now = Date.now();
  formatTable(
    ['ID', 'STATE', 'SEVERITY', 'SERVICE', 'AGE', 'TITLE'],
    incidents.map((i) => [
      String(i.id),
      i.state,
      i.severity,
      i.service ?? '-',
      age(i.createdAt, now),
      i.title,
    ]),
  ).forEach((line) => io.out(line));
  return 0;
}

/** `shipcheck incident show ID [--json]`: the incident and its timeline. */
export async function incidentShowCommand(id: string, opts: GlobalOptions, io: Io): Promise<number> {
  const n = parseId(id);
  const { client } = await resolveServer(opts);
  printDetail(await client.get(`/api/v1/incidents/${n}`, detailShape), opts, io);
  return 0;
}

/** `shipcheck incident open TITLE [--severity S] [-s SERVICE] [--policy P] [--public] [--key K] [--message M]`. */
export async function incidentOpenCommand(title: string, opts: IncidentOpenOptions, io: Io): Promise<number> {
  checkSeverity(opts.severity);
  const { client } = await resolveServer(opts);
  const body = {
    title,
    ...(opts.severity ? { severity: opts.severity } : {}),
    ...(opts.service ? { service: opts.service } : {}),
    ...(opts.policy ? { policy: opts.policy } : {}),
    ...(opts.public ? { public: true } : {}),
    ...(opts.key ? { key: opts.key } : {}),
    ...(opts.message ? { message: opts.message } : {}),
  };
  const detail = await client.post('/api/v1/incidents', body, detailShape);
  if (opts.json) printDetail(detail, opts, io);
  else io.out(`incident #${detail.incident.id} ${detail.incident.state}: ${detail.incident.title}`);
  return 0;
}

/**
 * `shipcheck incident ack|resolve|update|postmortem ID ...`: one change, then the incident's state in
 * one line (or the whole incident with --json).
 */
export async function incidentChangeCommand(
  action: 'ack' | 'resolve' | 'update' | 'postmortem',
  id: string,
  body: Record<string, unknown>,
  opts: GlobalOptions,
  io: Io,
): Promise<number> {
  const n = parseId(id);
  if (typeof body.severity === 'string') checkSeverity(body.severity);
  const { client } = await resolveServer(opts);
  const detail = await client.post(`/api/v1/incidents/${n}/${action}`, body, detailShape);
  if (opts.json) printDetail(detail, opts, io);
  else io.out(`incident #${detail.incident.id} ${detail.incident.state}: ${detail.incident.title}`);
  return 0;
}

/** Wraps an action so the program records its exit code (main.ts's `run`). */
type Run = <A extends unknown[]>(action: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;

/** Adds `shipcheck incident list|show|open|ack|resolve|update|postmortem` to `program`. */
export function registerIncidentCommands(
  program: Command,
  globals: () => GlobalOptions,
  io: Io,
  run: Run,
): void {
  const incident = program
    .command('incident')
    .description(
      'incidents: list, show, open, ack, resolve, update, postmortem (-s/--service filters and sets the service)',
    );
  incident
    .command('list')
    .description('incidents, newest first')
    .option('--state <state>', 'only triggered, acknowledged or resolved ones')
    .option('--limit <n>', 'at most this many (default 50)')
    .action(
      run(async (o: { state?: string; limit?: string }) => incidentListCommand({ ...globals(), ...o }, io)),
    );
  incident
    .command('show <id>')
    .description('an incident and its timeline')
    .action(run(async (id: string) => incidentShowCommand(id, globals(), io)));
  incident
    .command('open <title>')
    .description('open an incident by hand (with -s SERVICE for one about a service)')
    .option('--severity <severity>', `one of ${SEVERITIES.join(', ')} (default error)`)
    .option('--policy <name>', 'the escalation policy to page')
    .option('--public', 'show it on the status page')
    .option('--key <key>', 'a dedup key: while an incident with it is open, this adds to that one')
    .option('--message <text>', 'the first timeline entry')
    .action(
      run(async (title: string, o: Omit<IncidentOpenOptions, keyof GlobalOptions>) =>
        incidentOpenCommand(title, { ...globals(), ...o }, io),
      ),
    );
  incident
    .command('ack <id>')
    .description('acknowledge: stop escalating, tell everyone paged')
    .option('--message <text>', 'what the timeline says')
    .action(
      run(async (id: string, o: { message?: string }) =>
        incidentChangeCommand('ack', id, o.message ? { message: o.message } : {}, globals(), io),
      ),
    );
  incident
    .command('resolve <id>')
    .description('resolve: stop everything, tell everyone paged')
    .option('--message <text>', 'what the timeline says')
    .action(
      run(async (id: string, o: { message?: string }) =>
        incidentChangeCommand('resolve', id, o.message ? { message: o.message } : {}, globals(), io),
      ),
    );
  incident
    .command('update <id> <message>')
    .description('add a note to the timeline; optionally change the severity or the public flag')
    .option('--severity <severity>', `one of ${SEVERITIES.join(', ')}`)
    .option('--public', 'show it on the status page')
    .option('--private', 'take it off the status page')
    .action(
      run(
        async (
          id: string,
          message: string,
          o: { severity?: string; public?: boolean; private?: boolean },
        ) => {
          if (o.public && o.private) throw new InputError('give --public or --private, not both');
          const body = {
            message,
            ...(o.severity ? { severity: o.severity } : {}),
            ...(o.public ? { public: true } : o.private ? { public: false } : {}),
          };
          return incidentChangeCommand('update', id, body, globals(), io);
        },
      ),
    );
  incident
    .command('postmortem <id> <text>')
    .description('set the postmortem note')
    .action(
      run(async (id: string, text: string) =>
        incidentChangeCommand('postmortem', id, { text }, globals(), io),
      ),
    );
}
