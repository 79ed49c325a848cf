import type { OidcConfig } from './oidc-config.js';
import { parseRoleSpec } from './oidc-config.js';
import { roleAtLeast, type Grant } from './roles.js';

/** Why a sign-in through the OpenID provider was refused; each is a stable code the API can log and show. */
export const OIDC_REFUSAL = {
  /** The pending value is not one `start()` made (garbled, or from another version). */
  pendingInvalid: 'pending-invalid',
  /** The sign-in took longer than `PENDING_TTL_MS` from `start()` to the callback. */
  pendingExpired: 'pending-expired',
  /** The callback's `state` is not the one this browser was sent with: a forged or crossed callback. */
  stateMismatch: 'state-mismatch',
  /** The provider sent the user back with an error (e.g. access_denied: the user cancelled). */
  providerRefused: 'provider-refused',
  /** The token endpoint refused the code: already used, expired, or the PKCE verifier does not match. */
  codeRejected: 'code-rejected',
  /** The ID token's `exp` has passed (or its `iat`/`nbf` lie in the future). */
  tokenExpired: 'token-expired',
  /** The ID token failed a check: signature, issuer, audience, nonce, or it was missing or malformed. */
  tokenInvalid: 'token-invalid',
  /** The provider could not be reached or answered something that is not OpenID Connect. */
  providerError: 'provider-error',
  /** The role claim is missing, or none of its values is in `roles`, and `unmapped` is `refuse`. */
  unmappedClaim: 'unmapped-claim',
} as const;

/** One of the {@link OIDC_REFUSAL} codes. */
export type OidcRefusalReason = (typeof OIDC_REFUSAL)[keyof typeof OIDC_REFUSAL];

/**
 * A sign-in that did not succeed, as data: `refused` is the code, `message` one line for a person.
 * The message never quotes a token or a claim value beyond the claim's name.
 */
export interface OidcRefusal {
  refused: OidcRefusalReason;
  message: string;
}

/** What a user's claims grant them in shipcheck. */
export interface ClaimMapping {
  grants: Grant[];
  groups: string[];
}

/** Whether a result is a refusal rather than a success. */
export function isOidcRefusal(value: object): value is OidcRefusal {
  return 'refused' in value;
}

/** The settings {@link mapClaims} reads. */
export type ClaimMappingConfig = Pick<OidcConfig, 'roleClaim' | 'roles' | 'unmapped'> & {
  groupsClaim?: string | undefined;
};

/** Every environment, as a grant names it. */
const ALL_ENVIRONMENTS = '*';

/**
 * The value of `path` in `claims`: the claim of that exact name when there is one (names such as
 * `https://example.com/roles` hold dots), else the dotted path walked through nested objects.
 */
export function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let value: unknown = claims;
  for (const key of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    if (!Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** The strings a claim holds: itself when a string, its string items when a list, else none. */
function claimStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return [];
}

/** Keeps the strongest role per environment, in a stable order: `*` first, then by name. */
function strongestPerEnvironment(grants: Grant[]): Grant[] {
  const byEnvironment = new Map<string, Grant>();
  for (const grant of grants) {
    const held = byEnvironment.get(grant.environment);
    if (!held || !roleAtLeast(held.role, grant.role)) byEnvironment.set(grant.environment, grant);
  }
  return [...byEnvironment.values()].sort((a, b) =>
    a.environment === b.environment
      ? 0
      : a.environment === ALL_ENVIRONMENTS
        ? -1
        : b.environment === ALL_ENVIRONMENTS
          ? 1
          : a.environment.localeCompare(b.environment),
  );
}

/**
 * Turns a signed-in user's claims into shipcheck grants and groups. Every value of `roleClaim`
 * listed in `roles` adds its grants (values not listed are ignored); when the claim is missing or
 * none of its values is listed, `unmapped` decides: `viewer` everywhere, or a refusal. Groups are
 * the string values of `groupsClaim`, none without it. Pure: the same claims always map the same way.
 */
export function mapClaims(
  claims: Record<string, unknown>,
  config: ClaimMappingConfig,
): ClaimMapping | OidcRefusal {
  const values = claimStrings(claimAt(claims, config.roleClaim));
  const grants: Grant[] = [];
  for (const value of values) {
    if (!Object.hasOwn(config.roles, value)) continue;
    const mapped = config.roles[value];
    for (const spec of typeof mapped === 'string' ? [mapped] : (mapped ?? [])) {
      const grant = parseRoleSpec(spec);
      if (grant) grants.push(grant);
    }
  }
  const groups = config.groupsClaim
    ? [...new Set(claimStrings(claimAt(claims, config.groupsClaim)))].sort()
    : [];
  if (grants.length > 0) return { grants: strongestPerEnvironment(grants), groups };
  if (config.unmapped === 'viewer') {
    return { grants: [{ environment: ALL_ENVIRONMENTS, role: 'viewer' }], groups };
  }
  return {
    refused: OIDC_REFUSAL.unmappedClaim,
    message:
      values.length === 0
        ? `the provider sent no ${config.roleClaim} claim, and signing in without one is refused`
        : `no value of the ${config.roleClaim} claim is mapped to a role, and signing in without one is refused`,
  };
}
