/** The public status page: its name and components, each mapped to services. */
import { z } from 'zod';

/** The statuses a component shows, in Statuspage's words, from best to worst (maintenance aside). */
export const COMPONENT_STATUSES = [
  'operational',
  'under_maintenance',
  'degraded_performance',
  'partial_outage',
  'major_outage',
] as const;

/** A unit as a component names it: `web` (every environment of it) or `web@production`. */
const unitRef = z
  .string({ error: 'expected a service name such as web, or web@production for one environment' })
  .regex(
    /^[a-z0-9][a-z0-9-]*(@[a-z0-9][a-z0-9-]*)?$/,
    'expected a service name such as web, or web@production for one environment',
  );

/** One component of the page: what the public sees, and the units whose health it shows. */
const componentSchema = z.strictObject({
  name: z.string().trim().min(1, 'give the component a name, e.g. API').max(100),
  id: z
    .string()
    .regex(/^[a-z0-9]{1,32}$/, 'expected up to 32 lowercase letters and digits')
    .optional()
    .describe('Its id in the JSON (default: derived from its name); set it to keep the id when renaming.'),
  description: z.string().max(500).optional().describe('A line shown under its name.'),
  services: z
    .array(unitRef)
    .min(1, 'list the services this component shows, e.g. [web] or [web@production]')
    .describe(
      'The units whose health and releases make its status: web (all environments) or web@production.',
    ),
  group: z.string().trim().min(1).max(100).optional().describe('The group it is shown in.'),
  onlyShowIfDegraded: z.boolean().prefault(false).describe('Shown only while it is not operational.'),
  showcase: z.boolean().prefault(true).describe('Shown on the page (Statuspage\'s "showcase").'),
});

/** The public status page; absent means no status page is served. */
export const statusPageSchema = z
  .strictObject({
    name: z.string().trim().min(1, 'give the page a name, e.g. Example status').max(100),
    url: z
      .url({ error: 'expected the public URL of the page, e.g. https://status.example.com' })
      .optional()
      .describe('Where the public reads the page; links in emails and the feed start with it.'),
    timeZone: z
      .string()
      .refine((tz) => {
        try {
          new Intl.DateTimeFormat('en-US', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'expected an IANA time zone such as Etc/UTC or Europe/Paris')
      .prefault('Etc/UTC')
      .describe('The time zone the page shows times and days in.'),
    components: z
      .array(componentSchema)
      .min(1, 'list at least one component, e.g. [{ name: API, services: [web] }]')
      .superRefine((components, ctx) => {
        const seen = new Map<string, number>();
        components.forEach((c, i) => {
          const key = c.name.toLowerCase();
          const first = seen.get(key);
          if (first !== undefined)
            ctx.addIssue({
              code: 'custom',
              path: [i, 'name'],
              message: `component "${c.name}" is also component ${first + 1}; give each its own name`,
            });
          else seen.set(key, i);
        });
      }),
  })
  .optional()
  .describe('The public status page: its name and its components, each mapped to services.');

/** The status page as configured; undefined when there is none. */
export type StatusPageConfig = z.output<typeof statusPageSchema>;
/** One component as configured. */
export type StatusComponentConfig = z.output<typeof componentSchema>;
