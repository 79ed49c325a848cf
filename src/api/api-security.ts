/** What the API needs for authentication and the audit log: built by security/security.ts. */
import type { AuditLog } from '../security/audit.js';
import type { Auth } from '../security/auth.js';
import type { OidcConfig } from '../security/oidc-config.js';

/** What the API needs for authentication and the audit log. */
export interface ApiSecurity {
  /** Undefined: authentication is off (`server.auth.required: false`, loopback only). */
  auth: Auth | undefined;
  audit: AuditLog;
  /** Host names answered besides the loopback ones. */
  hosts: readonly string[];
  protectedEnvironments: readonly string[];
  /** The one-time code that creates the first admin (undefined once used, or when users exist). */
  setup: { code: string | undefined };
  now(): number;
  /** Single sign-on (`server.auth.oidc`), when configured. */
  oidc: OidcConfig | undefined;
  /** The URL people and the OpenID provider reach this server at (`server.publicUrl`, else the listen address). */
  publicUrl(): string;
  /** Whether the API is served over TLS (cookies are then `Secure`). */
  secure: boolean;
}
