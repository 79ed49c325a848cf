import { z } from 'zod';
import { ROLES, type Grant, type Role } from './roles.js';

/** The scopes asked for when `scopes` is not given. */
export const DEFAULT_OIDC_SCOPES = ['openid', 'profile', 'email'];

const ENVIRONMENT = '[a-z][a-z0-9-]*';
/** `admin`, or `deployer@staging`: a role, for every environment or for the one after `@`. */
const ROLE_SPEC = new RegExp(`^(${ROLES.join('|')})(?:@(${ENVIRONMENT}))?$`);

/**
 * Whether `hostname` (as `URL.hostname` gives it) names this machine: `localhost`, 127.0.0.0/8 or
 * `[::1]`. Plain http is accepted only there, where nothing crosses a network.
 */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

const roleSpec = z
  .string()
  .regex(
    ROLE_SPEC,
    `expected a role (${ROLES.join(', ')}), alone for every environment or as role@environment, e.g. deployer@staging`,
  )
  .describe('A role for every environment (admin) or for one (deployer@staging).');

/** Single sign-on through an OpenID Connect provider: where it is, who we are to it, and what its claims grant. */
export const oidcSchema = z
  .strictObject({
    issuer: z
      .url({ error: 'expected the issuer URL, e.g. https://login.example.com/realms/ops' })
      .refine((text) => {
        const url = new URL(text);
        return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
      }, 'an issuer uses https (plain http only on a loopback address such as 127.0.0.1)')
      .describe("The provider's issuer URL; its /.well-known/openid-configuration is read at start."),
    name: z
      .string()
      .regex(/\S/, 'expected the name people know the provider by, e.g. Okta')
      .max(60, 'at most 60 characters: it is a button label')
      .optional()
      .describe(
        "The provider's name on the dashboard's sign-in button (Sign in with NAME); the issuer's host when not given.",
      ),
    clientId: z.string().min(1).describe('The client id shipcheck is registered under at the provider.'),
    clientSecretEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
      .describe(
        'The environment variable that holds the client secret (the secret is never written in the file).',
      ),
    roleClaim: z
      .string()
      .min(1)
      .prefault('groups')
      .describe(
        'The claim whose values are looked up in roles: a string or a list of strings. A dotted path (realm_access.roles) reaches into an object claim.',
      ),
    roles: z
      .record(z.string().min(1), z.union([roleSpec, z.array(roleSpec).min(1)]))
      .prefault({})
      .describe(
        'What each value of roleClaim grants: a role for every environment (admin), a role in one (deployer@staging), or a list of these. Values not listed grant nothing.',
      ),
    groupsClaim: z
      .string()
      .min(1)
      .optional()
      .describe(
        "The claim whose values become the user's groups, which checklist items name (e.g. sre); a dotted path is allowed. Without it users get no groups from the provider.",
      ),
    unmapped: z
      .enum(['viewer', 'refuse'])
      .prefault('refuse')
      .describe(
        'When roleClaim is missing or none of its values is in roles: refuse the sign-in, or let the user in as viewer everywhere.',
      ),
    scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'a scope is one word without spaces or quotes'))
      .min(1)
      .refine((scopes) => scopes.includes('openid'), 'the scopes include openid')
      .prefault(DEFAULT_OIDC_SCOPES)
      .describe('Scopes asked for at sign-in; some providers send a groups claim only for a groups scope.'),
  })
  .describe('Single sign-on through OpenID Connect (server.auth.oidc).');

/** `server.auth.oidc` after validation and defaults. */
export type OidcConfig = z.output<typeof oidcSchema>;

/** The provider's name as people see it: `name`, else the issuer's host (`login.example.com`). */
export function oidcDisplayName(config: Pick<OidcConfig, 'name' | 'issuer'>): string {
  return config.name ?? new URL(config.issuer).host;
}

/**
 * The grant a role spec (`admin`, `deployer@staging`) names; undefined for text the schema would
 * refuse.
 */
export function parseRoleSpec(spec: string): Grant | undefined {
  const match = ROLE_SPEC.exec(spec);
  if (!match) return undefined;
  return { role: match[1] as Role, environment: match[2] ?? '*' };
}
