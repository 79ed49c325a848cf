/**
 * The control plane's own settings, shared by every service of an installation: `store` (with its
 * retention) and `server`.
 */
import { z } from 'zod';
import { oidcSchema } from '../security/oidc-config.js';
import { parseDuration } from '../util/duration.js';
import { duration, environmentName, listenAddress } from './schema-values.js';
import { serverTlsSchema } from './server-tls-schema.js';

/** `store` written as a URL: `sqlite:PATH` or `postgres://...`. */
const storeUrl = z
  .string()
  .refine(
    (s) => /^sqlite:./.test(s) || /^postgres(ql)?:\/\//.test(s),
    'expected sqlite:PATH or postgres://...',
  )
  .describe('Where state lives: sqlite:PATH (relative to the config file) or postgres://...');

/** The least any retention period may be: anything shorter would prune what people still look at. */
const MIN_RETENTION = '1h';

/** A retention period: a duration of at least MIN_RETENTION. */
const retentionPeriod = (fallback: string, what: string) =>
  duration
    .refine((ms) => ms >= (parseDuration(MIN_RETENTION) ?? 0), `must be at least ${MIN_RETENTION}`)
    .prefault(fallback)
    .describe(what);

/** The retention periods and how the pruner paces itself. */
const retentionPeriods = z.strictObject({
  measurements: retentionPeriod(
    '14d',
    'Trigger evaluations are pruned this long after they were taken, except those that failed; never those of an active release.',
  ),
  releases: retentionPeriod(
    '365d',
    'Ended releases are pruned this long after they ended, with their events, checklist items (and evidence), measurements and effects. The newest release of each service and its two newest successful ones are kept. Resolved incidents are pruned this long after they were resolved, with their timelines; open ones never.',
  ),
  events: retentionPeriod(
    '365d',
    "Events and effects that belong to no release (a unit's own: takeovers, reloads) are pruned this long after they happened, and delivered or failed notifications this long after they last changed; pending ones never.",
  ),
  interval: duration
    .refine((ms) => ms >= 1000, 'must be at least 1s')
    .prefault('1h')
    .describe('How often the store is pruned.'),
  batchSize: z
    .int()
    .min(1)
    .max(10_000)
    .prefault(500)
    .describe(
      'Rows one delete statement removes at most; a pause follows each, so no lock is held for long.',
    ),
});

/** Store retention after validation, durations in milliseconds; null when it is off. */
export type RetentionConfig = z.output<typeof retentionPeriods> | null;

/** The retention every period left out gets. */
function retentionDefaults(): RetentionConfig {
  return retentionPeriods.parse({});
}

/** How long the store keeps what releases leave behind; see docs/config.md#store-retention. */
export const retentionSchema = z
  .union([z.boolean(), retentionPeriods])
  .transform((value): RetentionConfig => {
    if (value === false) return null;
    return value === true ? retentionDefaults() : value;
  })
  .prefault({})
  .describe(
    'How long the store keeps releases, events, measurements, evidence, notifications and incidents; false keeps everything, true the defaults.',
  );

/** Where state lives, and how long; shared by every service of an installation. */
export const storeSchema = z
  .union([
    storeUrl,
    z.strictObject({
      url: storeUrl.prefault('sqlite:.shipcheck/state.db'),
      retention: retentionSchema,
    }),
  ])
  // The URL alone keeps the default retention.
  .transform((value) => (typeof value === 'string' ? { url: value, retention: retentionDefaults() } : value))
  .prefault('sqlite:.shipcheck/state.db')
  .describe(
    'Where state lives: sqlite:PATH (relative to the config file) or postgres://..., or {url, retention} to say how long it keeps releases.',
  );

/** The store after validation: its URL as written and its retention. */
export type StoreConfig = z.output<typeof storeSchema>;

/** Who may reach the API and how they prove it; see docs/security.md. */
const authSchema = z
  .strictObject({
    required: z
      .boolean()
      .prefault(true)
      .describe(
        'Every route but /healthz and the login routes needs a session or a token. false opens the API to anyone who reaches it: allowed only when server.listen is a loopback address, and logged as a warning.',
      ),
    session: z
      .strictObject({
        idle: duration.prefault('30m').describe('A browser session ends after this long without a request.'),
        absolute: duration
          .prefault('12h')
          .describe('A browser session ends this long after login, whatever happens.'),
      })
      .prefault({})
      .describe('Browser sessions.'),
    protectedEnvironments: z
      .array(z.union([environmentName, z.literal('*')]))
      .prefault(['production'])
      .describe(
        'Environments where promoting needs an approver, and where an approver or admin needs a fresh TOTP code; * protects every service, those without environments too.',
      ),
    mfaFreshFor: duration
      .prefault('5m')
      .describe('How long a TOTP code proven in a session counts as fresh for protected environments.'),
    lockout: z
      .strictObject({
        attempts: z.int().min(1).prefault(5).describe('Failed logins in a row that lock an account.'),
        for: duration.prefault('15m').describe('How long a locked account stays locked.'),
      })
      .prefault({})
      .describe('Temporary lockout after repeated failed logins; admins see it in `shipcheck user list`.'),
    oidc: oidcSchema.optional(),
  })
  .prefault({})
  .describe('Authentication and authorization of the API.');

/** The control plane's own HTTP server; shared by every service of an installation. */
export const serverSchema = z
  .strictObject({
    listen: listenAddress.prefault('127.0.0.1:7070').describe('Where the API and dashboard listen.'),
    leaseTtl: duration
      .prefault('10s')
      .describe(
        'How long a replica holds a service without renewing; another replica takes over after it (PostgreSQL store).',
      ),
    publicUrl: z
      .url({ error: 'expected the URL people reach this server at, e.g. https://shipcheck.example.com' })
      .optional()
      .describe(
        'The URL people and the OpenID provider reach this server at (behind a proxy, or a name other than the listen address); the setup link and the single sign-on redirect use it, and its host is answered as server.hosts are.',
      ),
    hosts: z
      .array(z.string().regex(/^[a-z0-9.-]+$/i, 'a host name such as shipcheck.example.com'))
      .prefault([])
      .describe(
        'Host names the API answers to besides loopback ones (localhost, 127.0.0.1, ::1); a request for any other Host is refused, which stops DNS rebinding.',
      ),
    tls: serverTlsSchema.optional(),
    auth: authSchema,
    shutdownTimeout: duration
      .prefault('30s')
      .describe(
        'How long `shipcheck up` may take to stop (its instances included) after SIGTERM or SIGINT; past it, it logs what it was waiting on and exits 1.',
      ),
  })
  .superRefine((server, ctx) => {
    // An open API is for a laptop: anyone who reaches a non-loopback address could deploy.
    const host = server.listen.includes(':') ? server.listen.slice(0, server.listen.lastIndexOf(':')) : '';
    const loopback =
      host === '' || host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
    if (!server.auth.required && !loopback)
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'required'],
        message: `the API cannot run without authentication on ${server.listen}: only on a loopback address such as 127.0.0.1`,
      });
  })
  .prefault({ listen: '127.0.0.1:7070', leaseTtl: '10s' })
  .describe("The control plane's own HTTP server.");
