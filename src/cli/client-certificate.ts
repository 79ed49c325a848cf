/**
 * The CLI's client certificate, for a server whose `server.tls.clientCA` asks for one:
 * SHIPCHECK_CLIENT_CERT and SHIPCHECK_CLIENT_KEY name its PEM files. Node's global fetch takes no
 * client certificate (that needs undici's Agent, which Node bundles but does not let us import), so
 * with one configured requests go through node:https instead; without one, through fetch as always.
 * Either way a private CA is trusted through NODE_EXTRA_CA_CERTS.
 */
import fs from 'node:fs';
import https from 'node:https';
import { Readable } from 'node:stream';
import { InputError, errorMessage } from '../errors.js';

/** The environment variable naming the client certificate's PEM file. */
export const CLIENT_CERT_ENV = 'SHIPCHECK_CLIENT_CERT';
/** The environment variable naming the client certificate's key PEM file. */
export const CLIENT_KEY_ENV = 'SHIPCHECK_CLIENT_KEY';

/** The part of fetch the API client uses. */
export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

/** HTTP statuses whose answers have no body, which `Response` refuses to be given one. */
const BODILESS = new Set([101, 204, 205, 304]);

/**
 * How the CLI sends requests: global fetch, or with SHIPCHECK_CLIENT_CERT and SHIPCHECK_CLIENT_KEY set,
 * node:https presenting that certificate. One without the other, or a file that cannot be read, is an
 * InputError naming the variable.
 */
export function clientFetch(env: NodeJS.ProcessEnv = process.env): Fetch {
  const certFile = env[CLIENT_CERT_ENV] || undefined;
  const keyFile = env[CLIENT_KEY_ENV] || undefined;
  if (certFile === undefined && keyFile === undefined) return fetch;
  if (certFile === undefined || keyFile === undefined) {
    const missing = certFile === undefined ? CLIENT_CERT_ENV : CLIENT_KEY_ENV;
    throw new InputError(
      `${missing} is not set: a client certificate needs both ${CLIENT_CERT_ENV} and ${CLIENT_KEY_ENV}`,
    );
  }
  const identity = { cert: readPem(CLIENT_CERT_ENV, certFile), key: readPem(CLIENT_KEY_ENV, keyFile) };
  return (url, init) =>
    url.startsWith('https:') ? requestWithCertificate(url, init, identity) : fetch(url, init);
}

function readPem(variable: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new InputError(`${variable}=${file}: cannot read (${errorMessage(err)})`, { cause: err });
  }
}

/**
 * One request through node:https, answered as fetch answers: a `Response` whose body streams, and a
 * network failure as `TypeError('fetch failed')` with the cause, which the API client reports.
 */
function requestWithCertificate(
  url: string,
  init: RequestInit,
  identity: { cert: Buffer; key: Buffer },
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const request = https.request(
      url,
      {
        method: init.method ?? 'GET',
        headers,
        ...identity,
        ...(init.signal ? { signal: init.signal } : {}),
      },
      (response) => {
        const answerHeaders = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          for (const one of [value ?? []].flat()) answerHeaders.append(name, one);
        }
        const status = response.statusCode ?? 0;
        const body = BODILESS.has(status) ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>);
        resolve(
          new Response(body, { status, statusText: response.statusMessage ?? '', headers: answerHeaders }),
        );
      },
    );
    request.once('error', (err) => reject(new TypeError('fetch failed', { cause: err })));
    request.end(typeof init.body === 'string' ? init.body : undefined);
  });
}
