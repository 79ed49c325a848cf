/**
 * A real OpenID provider (the `oidc-provider` package) on loopback, behind a small proxy that can
 * rewrite the ID token of token responses (the man-in-the-middle a signature check is there for),
 * and a "browser" that signs in through the provider's own login and consent pages.
 */
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';
import { freePort } from '../../src/util/net.js';

/** What a started provider offers a test. */
export interface TestOidcProvider {
  /** The issuer URL (the proxy in front of the provider). */
  issuer: string;
  /**
   * Plays the browser: follows the provider's redirects with a cookie jar, fills in the sign-in form
   * as `login` and the consent form (or cancels when `login` is undefined), and returns the URL the
   * provider finally sends it back to (the redirect URI with code and state).
   */
  signIn(authorizationUrl: string, login: string | undefined): Promise<URL>;
  /** Rewrites the ID token of the next token responses; undefined stops rewriting. */
  tamper(rewrite: ((idToken: string) => string) | undefined): void;
  close(): Promise<void>;
}

/** How a provider is set up. */
export interface OidcProviderOptions {
  clientId: string;
  clientSecret: string;
  /** Where the provider sends the browser back; any page at or below it ends `signIn`. */
  redirectUri: string;
  /** The people the provider knows, by login; any password signs them in. */
  accounts: Record<string, Record<string, unknown>>;
  /** The ID token's lifetime in seconds. */
  idTokenTtlS?: number;
}

async function serve(handler: http.RequestListener, port: number): Promise<http.Server> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Starts a provider and its proxy on free loopback ports. */
export async function startOidcProvider(options: OidcProviderOptions): Promise<TestOidcProvider> {
  let rewrite: ((idToken: string) => string) | undefined;
  const providerPort = await freePort();
  const proxyPort = await freePort();
  const proxy = await serve((req, res) => {
    const upstream = http.request(
      { host: '127.0.0.1', port: providerPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        const change = rewrite;
        if (!change || !req.url?.startsWith('/token')) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
          if (typeof body.id_token === 'string') body.id_token = change(body.id_token);
          const text = JSON.stringify(body);
          const headers = { ...answer.headers, 'content-length': String(Buffer.byteLength(text)) };
          delete headers['transfer-encoding'];
          res.writeHead(answer.statusCode ?? 502, headers);
          res.end(text);
        });
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }, proxyPort);
  const issuer = `http://127.0.0.1:${proxyPort}`;
  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ttl = options.idTokenTtlS ?? 600;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: options.clientId,
        client_secret: options.clientSecret,
        redirect_uris: [options.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    async findAccount(_ctx: unknown, id: string) {
      const claims = options.accounts[id];
      return claims && { accountId: id, claims: () => ({ sub: id, ...claims }) };
    },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'groups'],
      email: ['email', 'email_verified'],
    },
    // Put the scope's claims in the ID token too, as providers with a groups mapper do, so that a
    // forged ID token could claim more groups if its signature went unchecked.
    conformIdTokenClaims: false,
    cookies: { keys: ['a-cookie-key-only-these-tests-use'] },
    jwks: { keys: [{ ...signingKey, kid: 'test-key', alg: 'RS256', use: 'sig' }] },
    features: { devInteractions: { enabled: true } },
    ttl: { IdToken: ttl, AccessToken: 600, Interaction: 600, Session: 600, Grant: 600 },
  });
  const providerServer = await serve(provider.callback(), providerPort);

  return {
    issuer,
    tamper(change) {
      rewrite = change;
    },
    async signIn(authorizationUrl, login) {
      const jar = new Map<string, string>();
      let next = new URL(authorizationUrl);
      let form: URLSearchParams | undefined;
      for (let hop = 0; hop < 20; hop++) {
        const response = await fetch(next, {
          method: form ? 'POST' : 'GET',
          body: form,
          headers: { cookie: [...jar].map(([name, value]) => `${name}=${value}`).join('; ') },
          redirect: 'manual',
        });
        for (const cookie of response.headers.getSetCookie()) {
          const [pair = ''] = cookie.split(';');
          const equals = pair.indexOf('=');
          const name = pair.slice(0, equals).trim();
          if (/expires=Thu, 01 Jan 1970/i.test(cookie)) jar.delete(name);
          else jar.set(name, pair.slice(equals + 1));
        }
        form = undefined;
        const location = response.headers.get('location');
        if (location) {
          next = new URL(location, next);
          if (next.href.startsWith(options.redirectUri)) return next;
          continue;
        }
        const page = await response.text();
        const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
        const prompt = /name="prompt" value="(\w+)"/.exec(page)?.[1];
        if (!action || !prompt)
          throw new Error(
            `the provider answered ${response.status} at ${next.pathname}: ${page.slice(0, 300)}`,
          );
        next = new URL(action, next);
        if (login === undefined) {
          next = new URL(`${next.pathname}/abort`, next);
          continue;
        }
        form = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'any' } : { prompt });
      }
      throw new Error('the provider never sent the browser back');
    },
    async close() {
      await close(proxy);
      await close(providerServer);
    },
  };
}
