/**
 * The little of oidc-provider's API the single sign-on tests use: the package ships no type
 * declarations. It is a dev dependency, run only as the identity provider in tests.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  /** An account as `findAccount` returns it: its id and the claims it holds. */
  export interface Account {
    accountId: string;
    claims(use: string, scope: string): Record<string, unknown> | Promise<Record<string, unknown>>;
  }

  /** Provider settings; see oidc-provider's docs/README.md for every key. */
  export interface Configuration {
    clients?: Record<string, unknown>[];
    findAccount?: (ctx: unknown, id: string) => Account | undefined | Promise<Account | undefined>;
    claims?: Record<string, string[] | null>;
    cookies?: { keys?: string[] };
    jwks?: { keys: Record<string, unknown>[] };
    features?: Record<string, { enabled: boolean }>;
    ttl?: Record<string, number>;
    conformIdTokenClaims?: boolean;
    [key: string]: unknown;
  }

  /** An OpenID provider; serve it with `http.createServer(provider.callback())`. */
  export default class Provider {
    constructor(issuer: string, configuration?: Configuration);
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }
}
