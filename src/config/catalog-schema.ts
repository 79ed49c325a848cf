/**
 * A service's catalog entry: who owns it, what it depends on, what data moves where, its runbooks
 * and whom to call. Checks that need the other services or the on-call config (a `service`
 * dependency naming a service the installation runs, a data flow naming a known node, a contact
 * schedule that exists) live in src/catalog/catalog-problems.ts.
 */
import { z } from 'zod';

/** The kinds of thing a service depends on. `service` names another service of the installation. */
export const DEPENDENCY_KINDS = ['service', 'database', 'cache', 'queue', 'api', 'other'] as const;
export type DependencyKind = (typeof DEPENDENCY_KINDS)[number];

const nodeName = z
  .string()
  .trim()
  .min(1, 'give it a name, e.g. orders-db')
  .max(100)
  .regex(/^[^\n\r]+$/, 'a name is one line');

const dependencySchema = z.strictObject({
  name: nodeName.describe(
    'What it is called in diagrams and data flows; for kind service, the service name.',
  ),
  kind: z
    .enum(DEPENDENCY_KINDS)
    .describe('service (another shipcheck service), database, cache, queue, api or other.'),
  url: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Where it is: a URL or host:port; the dependencies check matches config-named hosts against it.',
    ),
  critical: z.boolean().prefault(false).describe('The service cannot serve without it.'),
});

const dataFlowSchema = z.strictObject({
  from: nodeName.describe('Where the data comes from: this service, a dependency, or another service.'),
  to: nodeName.describe('Where it goes.'),
  data: z.string().trim().min(1, 'say what data moves, e.g. orders').max(200),
  description: z.string().max(1000).optional(),
});

const runbookSchema = z
  .strictObject({
    title: z.string().trim().min(1, 'give the runbook a title').max(200),
    file: z.string().min(1).optional().describe('A markdown file, relative to the config file.'),
    url: z.url({ error: 'expected an absolute URL, e.g. https://wiki.example.com/runbook' }).optional(),
  })
  .superRefine((runbook, ctx) => {
    if ((runbook.file === undefined) === (runbook.url === undefined))
      ctx.addIssue({
        code: 'custom',
        path: runbook.file === undefined ? [] : ['url'],
        message:
          runbook.file === undefined
            ? 'give the runbook a file or a url'
            : 'give the runbook a file or a url, not both',
      });
  });

const contactSchema = z.union([
  z.strictObject({ user: z.string().min(1).describe('A shipcheck user by name.') }),
  z.strictObject({ schedule: z.string().min(1).describe('An on-call schedule: whoever is on call.') }),
]);

/** Adds an issue at the second of two entries of one name (case-insensitive). */
function uniqueNames<T>(
  list: readonly T[],
  nameOf: (entry: T) => string,
  what: string,
  ctx: z.RefinementCtx,
): void {
  const seen = new Map<string, number>();
  list.forEach((entry, i) => {
    const key = nameOf(entry).toLowerCase();
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else
      ctx.addIssue({
        code: 'custom',
        path: [i, what === 'runbook' ? 'title' : 'name'],
        message: `${what} "${nameOf(entry)}" is also ${what} ${first + 1}; give each its own ${what === 'runbook' ? 'title' : 'name'}`,
      });
  });
}

/** The `catalog` block of a service; not per environment. */
export const catalogSchema = z
  .strictObject({
    owner: z.string().min(1).optional().describe('The user who owns the service.'),
    team: z.string().min(1).max(100).optional().describe('The team that runs it.'),
    tier: z
      .union([z.number().int().min(1).max(3), z.enum(['critical', 'high', 'low'])], {
        error: 'expected a tier of 1, 2 or 3, or critical, high or low',
      })
      .optional()
      .describe('How much depends on it: 1 (critical) to 3, or critical, high, low.'),
    description: z.string().max(2000).optional().describe('What the service does, in a line or two.'),
    dependencies: z
      .array(dependencySchema)
      .prefault([])
      .superRefine((list, ctx) => uniqueNames(list, (d) => d.name, 'dependency', ctx))
      .describe('What the service needs: other services, databases, caches, queues, external APIs.'),
    dataFlows: z.array(dataFlowSchema).prefault([]).describe('What data moves from where to where.'),
    runbooks: z
      .array(runbookSchema)
      .prefault([])
      .superRefine((list, ctx) => uniqueNames(list, (r) => r.title, 'runbook', ctx))
      .describe('Runbooks: a markdown file (relative to this file) or a URL, each with a title.'),
    contacts: z.array(contactSchema).prefault([]).describe('Whom to call: users, or on-call schedules.'),
    docsDir: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Where `shipcheck docs` wrote the diagrams, relative to this file; the diagrams check looks there (default: docs/catalog beside the installation file).',
      ),
  })
  .optional()
  .describe('The service catalog: owner, tier, dependencies, data flows, runbooks and contacts.');

/** A service's catalog as validated; undefined when the service has none. */
export type CatalogConfig = z.output<typeof catalogSchema>;
export type CatalogEntry = NonNullable<CatalogConfig>;
export type CatalogDependency = CatalogEntry['dependencies'][number];
export type CatalogDataFlow = CatalogEntry['dataFlows'][number];
export type CatalogRunbook = CatalogEntry['runbooks'][number];
export type CatalogContact = CatalogEntry['contacts'][number];
