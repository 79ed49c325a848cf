/**
 * The config's schema: a service file's keys here; the values every block shares (durations,
 * percentages, addresses) in schema-values.ts; the control plane's `server` and `store` in
 * server-schema.ts.
 */
import { z } from 'zod';
import { formatDuration, parseDuration } from '../util/duration.js';
import { parseAddressRange } from '../util/address-list.js';
import { orSecret } from './secret-ref.js';
import {
  PERCENT_HINT,
  PERCENT_PATTERN,
  PERCENT_RANGE,
  duration,
  environmentName,
  listenAddress,
} from './schema-values.js';
import { serverSchema, storeSchema } from './server-schema.js';
import { channelsSchema } from './channels-schema.js';
import { maintenanceSchema } from './maintenance-schema.js';
import { baselineSchema } from './baseline-schema.js';
import { communicationSchema } from './communication-schema.js';
import { oncallSchema } from './oncall-schema.js';
import { statusPageSchema } from './status-page-schema.js';
import { scalingSchema } from './scaling-schema.js';
import { catalogSchema } from './catalog-schema.js';

export { duration, listenAddress, percent } from './schema-values.js';

const weight = z
  .number()
  .int('a weight is a whole number of percent')
  .min(0, 'weight must be between 0 and 100')
  .max(100, 'weight must be between 0 and 100');

const healthSchema = z
  .strictObject({
    path: z
      .string()
      .startsWith('/', 'a health path starts with /')
      .prefault('/healthz')
      .describe('Path requested on every instance to check its health.'),
    interval: duration.prefault('2s').describe('Time between two checks of one instance.'),
    timeout: duration.prefault('1s').describe('A check that takes longer than this fails.'),
    unhealthyAfter: z
      .number()
      .int()
      .min(1)
      .prefault(3)
      .describe('Consecutive failed checks before an instance counts as unhealthy.'),
  })
  .describe('HTTP health check run against every instance.');

const commandLine = z
  .union([z.string().min(1), z.array(z.string()).min(1)])
  .describe('A shell command string, or an argv array.');

/** What every fleet kind shares: sizes, timeouts, environment and the health check shipcheck runs. */
const fleetCommon = {
  cwd: z.string().optional().describe('Working directory for instances, relative to the config file.'),
  env: z
    .record(z.string(), z.string())
    .prefault({})
    .describe('Extra environment variables for every instance.'),
  instances: z.number().int().min(1).prefault(3).describe('Instances of the stable version.'),
  canaryInstances: z
    .number()
    .int()
    .min(1)
    .prefault(1)
    .describe('Instances of a new version at its first step.'),
  startTimeout: duration.prefault('30s').describe('How long a new instance may take to become healthy.'),
  stopTimeout: duration.prefault('10s').describe('Grace after SIGTERM before SIGKILL.'),
  health: healthSchema.prefault({ path: '/healthz', interval: '2s', timeout: '1s', unhealthyAfter: 3 }),
};

const localFleet = z
  .strictObject({
    kind: z.literal('local').describe('`local`: instances are processes on this machine.'),
    command: z
      .union([z.string().min(1), z.array(z.string()).min(1)])
      .describe(
        'The command that starts one instance: a shell string or an argv array. It must listen on $PORT.',
      ),
    ...fleetCommon,
  })
  .describe('How instances of the service are run.');

const hooksFleet = z
  .strictObject({
    kind: z
      .literal('hooks')
      .describe(
        '`hooks`: your commands start, stop and list instances anywhere; shipcheck checks their health.',
      ),
    hooks: z
      .strictObject({
        start: commandLine.describe(
          'Starts one instance (env SHIPCHECK_SERVICE, SHIPCHECK_VERSION, SHIPCHECK_INSTANCE) and prints {"address": "host:port"}.',
        ),
        stop: commandLine.describe('Stops one instance (env SHIPCHECK_VERSION, SHIPCHECK_ADDRESS).'),
        list: commandLine.describe('Prints a JSON array of {"address", "version"}: every running instance.'),
        timeout: duration.prefault('2m').describe('Longest one hook may run before it counts as failed.'),
      })
      .describe('The three commands shipcheck runs; each gets the fleet env plus its own variables.'),
    ...fleetCommon,
  })
  .describe('How instances of the service are run.');

/** Shortest force token accepted, as for other bearer tokens. */
const FORCE_TOKEN_MIN_LENGTH = 16;

const proxyTraffic = z
  .strictObject({
    kind: z.literal('proxy').describe('`proxy`: the built-in HTTP proxy splits requests by weight.'),
    listen: listenAddress.prefault('127.0.0.1:8080').describe("Where the proxy takes the service's traffic."),
    keepAliveTimeout: duration
      .refine((ms) => ms > 0, 'a keep-alive timeout is above 0')
      .prefault('75s')
      .describe(
        'How long an idle client connection stays open for its next request. Keep it longer than the idle timeout of a load balancer in front (60s on the common clouds), so the balancer is the side that closes.',
      ),
    headersTimeout: duration
      .refine((ms) => ms > 0, 'a headers timeout is above 0')
      .prefault('60s')
      .describe(
        'A client that has not sent the whole request head this long after it began gets 408; at most requestTimeout.',
      ),
    requestTimeout: duration
      .prefault('300s')
      .describe(
        'A client that has not sent the whole request this long after it began gets 408; 0s turns it off.',
      ),
    forceToken: orSecret(
      z
        .string()
        .min(FORCE_TOKEN_MIN_LENGTH, `use a token of at least ${FORCE_TOKEN_MIN_LENGTH} characters`)
        .regex(/^[\x21-\x7e]+$/, 'a token of printable ASCII characters without spaces'),
    )
      .optional()
      .describe(
        'The secret a request shows in X-Shipcheck-Force-Token to have its X-Shipcheck-Version header honoured; a secret reference keeps it out of the file. Without it, shipcheck makes a random one at startup that only its own synthetic load and checks know.',
      ),
    forceFrom: z
      .array(
        z.string().superRefine((entry, ctx) => {
          const range = parseAddressRange(entry);
          if (typeof range === 'string') ctx.addIssue({ code: 'custom', message: range });
        }),
      )
      .prefault([])
      .describe(
        'IP addresses and CIDR ranges whose requests may use X-Shipcheck-Version without the force token; none by default (a load balancer or nginx on the same host makes every client look local).',
      ),
  })
  // Node refuses a server whose headers timeout outlasts its request timeout.
  .superRefine((t, ctx) => {
    if (t.requestTimeout === 0 || t.headersTimeout <= t.requestTimeout) return;
    ctx.addIssue({
      code: 'custom',
      path: ['headersTimeout'],
      message: `headersTimeout must not be longer than requestTimeout, got ${formatDuration(t.headersTimeout)} against ${formatDuration(t.requestTimeout)} (requestTimeout: 0s turns that one off)`,
    });
  })
  .describe('How requests are split between the stable version and the canary.');

const nginxTraffic = z
  .strictObject({
    kind: z
      .literal('nginx')
      .describe('`nginx`: shipcheck writes an upstream block with weights and reloads nginx.'),
    upstream: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'an upstream name uses letters, digits, - and _')
      .describe('The upstream block shipcheck writes; your site proxies to http://NAME.'),
    upstreamFile: z
      .string()
      .min(1)
      .describe('The file shipcheck owns, included by nginx.conf at http level.'),
    nginxConfig: z.string().min(1).describe('The nginx.conf that nginx -t and nginx -s reload use.'),
    nginxBinary: z.string().min(1).prefault('nginx').describe('The nginx executable.'),
  })
  .describe('How requests are split between the stable version and the canary.');

const builtinMetrics = z
  .strictObject({
    kind: z.literal('builtin').describe('`builtin`: request counts and latencies recorded by the proxy.'),
  })
  .describe('Where trigger metrics come from.');

const prometheusMetrics = z.strictObject({
  kind: z.literal('prometheus').describe('`prometheus`: instant queries against your Prometheus.'),
  url: z.string().url('expected the Prometheus base URL, e.g. http://127.0.0.1:9090'),
  timeout: duration.prefault('5s').describe('Longest one query may take.'),
  queries: z
    .partialRecord(
      z.enum([
        'error_rate',
        'latency_p50',
        'latency_p90',
        'latency_p95',
        'latency_p99',
        'request_rate',
        'requests',
      ]),
      z.string().min(1),
    )
    .prefault({})
    .describe('PromQL templates with {{service}}, {{version}} and {{window}}, replacing the defaults.'),
});

const nginxLogMetrics = z.strictObject({
  kind: z.literal('nginx-log').describe("`nginx-log`: nginx's JSON access log, tailed."),
  accessLog: z.string().min(1).describe('The access log written with the shipcheck log_format.'),
});

const step = z.union([
  z.strictObject({ setWeight: weight.describe('Send this percentage of requests (0-100) to the canary.') }),
  z.strictObject({
    pause: z.union([duration, z.strictObject({})]).describe('A duration, or {} to wait for `promote`.'),
  }),
]);

const metricName = z.enum(['error_rate', 'latency_p50', 'latency_p90', 'latency_p99']);

const metricTrigger = z.strictObject({
  metric: metricName.describe('The canary metric to watch.'),
  above: z
    .union([z.number(), z.string()])
    .describe('Threshold: a percentage (5%) for error_rate, a duration (2s) or milliseconds for latency.'),
  window: duration.prefault('1m').describe('Lookback over which the metric is computed.'),
  for: duration.prefault('0s').describe('How long the condition must hold continuously before it fires.'),
  minRequests: z
    .number()
    .int()
    .min(0)
    .prefault(10)
    .describe('Below this many requests the verdict is inconclusive.'),
});

/** Turns `above` into a number: a fraction for error_rate, milliseconds for latency. */
function normalizeThreshold(metric: z.infer<typeof metricName>, above: number | string): number | string {
  if (metric === 'error_rate') {
    if (typeof above === 'number') return above >= 0 && above <= 100 ? above / 100 : PERCENT_RANGE;
    if (!PERCENT_PATTERN.test(above)) return `${PERCENT_HINT}, got "${above}"`;
    const value = Number(above.slice(0, -1));
    return value <= 100 ? value / 100 : `${PERCENT_RANGE}, got "${above}"`;
  }
  if (typeof above === 'number') return above >= 0 ? above : 'a latency threshold cannot be negative';
  return parseDuration(above) ?? `expected a duration such as 500ms or 2s, got "${above}"`;
}

const metricTriggerNormalized = metricTrigger.transform((trigger, ctx) => {
  const above = normalizeThreshold(trigger.metric, trigger.above);
  if (typeof above === 'string') {
    ctx.addIssue({ code: 'custom', message: above, path: ['above'] });
    return z.NEVER;
  }
  return { ...trigger, above };
});

const healthTrigger = z.strictObject({
  health: z.literal('failed').describe('Fires when a canary instance becomes unhealthy.'),
});

const databaseUrl = z
  .string()
  .refine(
    (s) => /^sqlite:.+/.test(s) || /^postgres(ql)?:\/\//.test(s),
    'expected postgres://... or sqlite:PATH',
  )
  .describe('postgres://... or sqlite:PATH (relative to the config file).');

const migrationsSchema = z
  .strictObject({
    dir: z
      .string()
      .optional()
      .describe('Folder of NNN_name.up.sql and NNN_name.down.sql files, relative to the config.'),
    database: orSecret(databaseUrl).optional().describe('The database the SQL files migrate.'),
    up: commandLine.optional().describe('Instead of dir: a command that applies pending migrations.'),
    down: commandLine.optional().describe('With up: a command that undoes what up applied.'),
    timeout: duration.prefault('5m').describe('Longest a migration run may take.'),
  })
  .refine((m) => (m.dir !== undefined && m.database !== undefined) || m.up !== undefined, {
    message: 'give dir and database, or an up command',
  })
  .refine((m) => !(m.dir !== undefined && m.up !== undefined), {
    message: 'give dir and database, or up/down commands, not both',
  })
  .describe('Database migrations run as a release step, after the pre-deploy gate and before the canary.');

const backupSchema = z
  .strictObject({
    database: orSecret(databaseUrl)
      .optional()
      .describe('The database backed up: PostgreSQL (pg_dump) or SQLite (online backup).'),
    command: commandLine
      .optional()
      .describe('Instead of database: a command that writes a backup file into dir.'),
    restoreCommand: commandLine
      .optional()
      .describe('With command: restores $SHIPCHECK_BACKUP_FILE into $SHIPCHECK_SCRATCH_DATABASE.'),
    dir: z
      .string()
      .prefault('.shipcheck/backups')
      .describe('Where backups are written and found, relative to the config.'),
    reuseFor: duration
      .prefault('0s')
      .describe('Reuse a passed backup-restore result this long instead of restoring on every release.'),
    timeout: duration
      .prefault('30m')
      .describe('Longest making one backup, or one restore check, may take before it is stopped and fails.'),
  })
  .refine((b) => b.database !== undefined || b.command !== undefined, {
    message: 'give database, or a command',
  })
  .describe('Backups: made and checked by the backup-age and backup-restore checklist items.');

const cdnSchema = z
  .strictObject({
    purge: z
      .array(
        z.strictObject({
          url: orSecret(z.string().url('expected an absolute URL')),
          method: z
            .string()
            .regex(/^[A-Z]+$/, 'expected an HTTP method such as PURGE or BAN')
            .prefault('PURGE'),
          headers: z.record(z.string(), orSecret(z.string())).prefault({}),
        }),
      )
      .optional()
      .describe('Purge requests sent in order; any 2xx answer counts as done.'),
    command: commandLine.optional().describe('Instead of purge: a command that clears the caches.'),
    timeout: duration.prefault('10s'),
  })
  .refine((c) => c.purge !== undefined || c.command !== undefined, {
    message: 'give purge requests, or a command',
  })
  .describe('CDN cache invalidation, run after 100% and again on rollback.');

const alertsSchema = z
  .strictObject({
    matchers: z
      .array(
        z
          .string()
          .regex(
            /^\s*[A-Za-z_][A-Za-z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*$/,
            'expected a matcher such as service="{{service}}" (operators =, !=, =~, !~)',
          ),
      )
      .min(1)
      .prefault(['service="{{service}}"'])
      .describe(
        'Label matchers a firing alert must all satisfy; {{service}}, {{version}} and {{environment}} are filled in.',
      ),
    token: orSecret(z.string().min(16, 'use a token of at least 16 characters'))
      .optional()
      .describe('Bearer token Alertmanager sends; a secret reference keeps it out of the file.'),
    tokenEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
      .optional()
      .describe('Instead of token: the environment variable that holds it.'),
  })
  .refine((a) => (a.token === undefined) !== (a.tokenEnv === undefined), {
    message: 'give token or tokenEnv (one of them)',
  })
  .describe(
    'Alertmanager webhook (POST /api/v1/alerts/alertmanager): a matching firing alert rolls the release back.',
  );

const eventPattern = z
  .string()
  .regex(
    /^[a-z_]+(\.[a-z_]+)?$|^[a-z_]+\.\*$|^\*$/,
    'expected an event type such as release.succeeded, or release.*',
  )
  .describe('An event type, `kind.*` for every event of a kind, or `*`.');

const notificationsSchema = z
  .strictObject({
    webhooks: z
      .array(
        z.strictObject({
          url: orSecret(z.string().url('expected an absolute URL')),
          events: z
            .array(eventPattern)
            .min(1)
            .prefault(['release.*', 'alert.*'])
            .describe('The events sent to this webhook.'),
          headers: z
            .record(z.string(), orSecret(z.string()))
            .prefault({})
            .describe('Extra request headers, e.g. Authorization; a value may be a secret reference.'),
        }),
      )
      .min(1)
      .describe('Each event is POSTed as JSON with an Idempotency-Key header, once per webhook.'),
    timeout: duration.prefault('5s').describe('Longest one delivery may take.'),
  })
  .describe('Webhook notifications of release events, delivered by the replica driving the service.');

/** Most synthetic requests per second: enough for a verdict, never a load test. */
const MAX_SYNTHETIC_RPS = 100;

const syntheticLoadSchema = z
  .strictObject({
    rps: z
      .number()
      .positive('rps must be above 0')
      .max(MAX_SYNTHETIC_RPS, `rps is at most ${MAX_SYNTHETIC_RPS}`)
      .prefault(2)
      .describe('Requests per second sent to the version under analysis.'),
    path: z
      .string()
      .regex(/^\//, 'a path starts with /')
      .prefault('/')
      .describe('The path requested, e.g. /healthz or a cheap read-only page.'),
    headers: z
      .record(z.string(), z.string())
      .prefault({})
      .describe('Extra request headers, e.g. a test account token.'),
    timeout: duration.prefault('5s').describe('Longest a synthetic request may take.'),
  })
  .describe(
    "Synthetic traffic for the version under analysis, from its canary gate to its post-deploy gate, so a service with little or no traffic still gets a verdict. It goes through the built-in proxy with the version header, else straight to the version's instances; it counts in the verdict and is labelled synthetic in the evidence.",
  );

/** The shipcheck.yaml schema; the single source for validation, defaults and docs/shipcheck.schema.json. */
export const configSchema = z.strictObject({
  service: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/, 'a service name uses lowercase letters, digits and dashes')
    .describe('Name of the service this file deploys.'),
  store: storeSchema,
  server: serverSchema,
  channels: channelsSchema,
  oncall: oncallSchema,
  statusPage: statusPageSchema,
  fleet: z
    .discriminatedUnion('kind', [localFleet, hooksFleet])
    .describe('How instances of the service are run.'),
  traffic: z
    .discriminatedUnion('kind', [proxyTraffic, nginxTraffic])
    .prefault({ kind: 'proxy', listen: '127.0.0.1:8080' }),
  metrics: z
    .discriminatedUnion('kind', [builtinMetrics, prometheusMetrics, nginxLogMetrics])
    .prefault({ kind: 'builtin' })
    .describe('Where trigger metrics come from.'),
  strategy: z
    .strictObject({
      steps: z
        .array(step)
        .prefault([{ setWeight: 10 }, { pause: '1m' }, { setWeight: 50 }, { pause: '1m' }])
        .describe('Run in order; when they are done the new version takes all traffic.'),
      bakeTime: duration.prefault('0s').describe('Time at 100% with analysis still running before success.'),
    })
    .prefault({
      steps: [{ setWeight: 10 }, { pause: '1m' }, { setWeight: 50 }, { pause: '1m' }],
      bakeTime: '0s',
    })
    .describe('How a release moves traffic to the new version.'),
  analysis: z
    .strictObject({
      interval: duration.prefault('5s').describe('How often triggers are evaluated.'),
      inconclusiveLimit: z
        .number()
        .int()
        .min(1)
        .prefault(5)
        .describe(
          'Inconclusive evaluations in a row (one per analysis.interval) before onInconclusive acts.',
        ),
      onInconclusive: z
        .enum(['pause', 'rollback'])
        .prefault('pause')
        .describe('What to do when there is not enough data for a verdict: pause the release or roll back.'),
      syntheticLoad: syntheticLoadSchema.optional(),
    })
    .prefault({ interval: '5s', inconclusiveLimit: 5, onInconclusive: 'pause' })
    .describe('How rollback triggers are evaluated.'),
  rollback: z
    .strictObject({
      triggers: z
        .array(z.union([metricTriggerNormalized, healthTrigger]))
        .prefault([])
        .describe('Rules evaluated on the canary; any one firing rolls the release back.'),
      keepPreviousFor: duration
        .prefault('10m')
        .describe('How long the previous version stays warm after success.'),
      migrations: z
        .enum(['down', 'keep'])
        .prefault('keep')
        .describe('On rollback: run the down migrations (down) or leave the schema as it is (keep).'),
      alerts: alertsSchema.optional(),
    })
    .prefault({ triggers: [], keepPreviousFor: '10m', migrations: 'keep' })
    .describe('When and how a release is rolled back automatically.'),
  environments: z
    .record(environmentName, z.record(z.string(), z.unknown()))
    .optional()
    .describe(
      'Environments in promotion order (e.g. staging, then production), each overriding what differs: fleet, traffic, metrics, strategy, analysis, rollback, checklist, migrations, backup, cdn, notifications, communication, maintenance, scaling, baseline.',
    ),
  migrations: migrationsSchema.optional(),
  backup: backupSchema.optional(),
  cdn: cdnSchema.optional(),
  notifications: notificationsSchema.optional(),
  communication: communicationSchema,
  maintenance: maintenanceSchema,
  scaling: scalingSchema.optional(),
  baseline: baselineSchema,
  security: z
    .strictObject({
      keyMaxAge: duration
        .prefault('90d')
        .describe(
          'The key rotation schedule: the key-age item fails once the master key is older than this.',
        ),
    })
    .optional()
    .describe('Security settings the checklist checks.'),
  checklist: z
    .strictObject({
      template: z
        .string()
        .min(1)
        .prefault('none')
        .describe('`default` (the production checklist), `none`, or the path of a template file.'),
      vars: z
        .record(z.string(), orSecret(z.string()))
        .prefault({})
        .describe('Values for {{vars.NAME}} in template params, e.g. a health URL or a dependency host.'),
    })
    .prefault({ template: 'none', vars: {} })
    .describe('The release checklist.'),
  catalog: catalogSchema,
});

/** A validated config, durations in ms and percentages as fractions. */
export type Config = z.output<typeof configSchema>;
/** One trigger after validation. */
export type TriggerConfig = Config['rollback']['triggers'][number];
/** A metric trigger after validation: `above` is a fraction (error_rate) or milliseconds (latency). */
export type MetricTriggerConfig = Extract<TriggerConfig, { metric: string }>;
/** The metrics a trigger can watch. */
export type MetricName = z.infer<typeof metricName>;
/** One strategy step after validation. */
export type StepConfig = Config['strategy']['steps'][number];

/** Keys of a control-plane file: what belongs to the whole installation rather than to one service. */
export const CONTROL_PLANE_KEYS = [
  'store',
  'server',
  'channels',
  'oncall',
  'statusPage',
  'services',
] as const;

/** Keys a control-plane file hands down to each service file, which may not set them itself. */
export const INHERITED_KEYS = ['store', 'server', 'channels', 'oncall', 'statusPage'] as const;

/**
 * A control-plane file: the installation's server and store, and the service files it runs. Each
 * service file is a shipcheck.yaml without `server` and `store`.
 */
export const controlPlaneSchema = z.strictObject({
  store: storeSchema,
  server: serverSchema,
  channels: channelsSchema,
  oncall: oncallSchema,
  statusPage: statusPageSchema,
  services: z
    .array(z.string({ error: 'expected a path or a glob such as services/*.yaml' }).min(1))
    .min(1, 'list at least one service file, e.g. services/*.yaml')
    .describe(
      'Service files run by this control plane: paths or globs (services/*.yaml), relative to this file.',
    ),
});

export type ControlPlaneConfig = z.output<typeof controlPlaneSchema>;
