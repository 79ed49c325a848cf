/**
 * `certificates`: certificate renewal. Every HTTPS endpoint the config names (any `https://` URL in
 * the unit's validated config, the control plane's own HTTPS listener when `server.tls` is set, and
 * `extra` URLs) must present a certificate valid for at least `minDays` more days
 * (`maintenance.certMinDays` by default). One handshake per host:port, made by the `tls` kind's code.
 */
import { z } from 'zod';
import { duration } from '../../config/schema.js';
import type { Config } from '../../config/schema.js';
import { parseHostPort } from '../../util/net.js';
import type { CheckKind, CheckResult } from '../types.js';
import { formatName, shakeHands } from './tls.js';

const DAY_MS = 86_400_000;
const HTTPS_PORT = 443;
/** Handshakes at once. */
const CONCURRENCY = 8;
/** `https://` URLs inside any string of the config (a URL may sit in a longer value). */
const HTTPS_URL = /https:\/\/[^\s"'<>`]+/gi;
/** Addresses a listener binds to that a client reaches as loopback. */
const ANY_ADDRESS: Record<string, string> = { '0.0.0.0': '127.0.0.1', '::': '::1', '': '127.0.0.1' };

export const NO_ENDPOINT = 'no HTTPS endpoint in the config';

const certificatesParamsSchema = z.strictObject({
  minDays: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('Fails when a certificate expires in fewer days than this (default: maintenance.certMinDays).'),
  timeout: duration.prefault('10s').describe('Each connection and handshake must finish within this.'),
  extra: z
    .array(z.url({ protocol: /^https$/, error: 'expected an https:// URL' }))
    .prefault([])
    .describe('HTTPS URLs to check besides those found in the config.'),
});

/** Validated `certificates` params; durations in ms. */
export type CertificatesParams = z.output<typeof certificatesParamsSchema>;

/** One host:port to check, and where the config names it. */
export interface HttpsEndpoint {
  host: string;
  port: number;
  /** The name sent as SNI (none is sent for an IP address). */
  servername: string;
  /** Config paths that name it, e.g. `channels[0].url`, `server.tls`, `extra[0]`. */
  where: string[];
}

/** What one endpoint showed. */
interface EndpointResult {
  endpoint: string;
  where: string[];
  state: 'ok' | 'expiring' | 'unreachable';
  daysLeft?: number;
  notAfter?: string;
  subject?: string;
  issuer?: string;
  authorized?: boolean;
  error?: string;
}

export const certificatesCheck: CheckKind<CertificatesParams> = {
  kind: 'certificates',
  params: certificatesParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const minDays = params.minDays ?? context.config.maintenance.certMinDays;
    const endpoints = httpsEndpoints(context.config, params.extra);
    if (endpoints.length === 0) return { ok: true, summary: NO_ENDPOINT, data: { endpoints: [], minDays } };

    const queue = [...endpoints];
    const results: EndpointResult[] = [];
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        results.push(await checkEndpoint(next, params.timeout, minDays, context.clock.now(), context.signal));
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, endpoints.length) }, worker));
    const order = new Map(endpoints.map((e, i) => [label(e), i]));
    results.sort((a, b) => order.get(a.endpoint)! - order.get(b.endpoint)!);

    const expiring = results.filter((r) => r.state === 'expiring');
    const unreachable = results.filter((r) => r.state === 'unreachable');
    const answered = results.filter((r) => r.daysLeft !== undefined);
    const soonest = answered.reduce<EndpointResult | undefined>(
      (min, r) => (min === undefined || r.daysLeft! < min.daysLeft! ? r : min),
      undefined,
    );
    const data = { minDays, endpoints: results };
    const output = results.map(endpointLine).join('\n');
    const value = soonest?.daysLeft;
    const evidence = { data, output, ...(value === undefined ? {} : { value }) };
    const total = `${results.length} HTTPS ${results.length === 1 ? 'endpoint' : 'endpoints'}`;
    const notAnswering =
      unreachable.length > 0 ? `; ${unreachable.length} did not answer (${unreachable[0]!.endpoint})` : '';
    if (expiring.length > 0) {
      const named = expiring.map(describeExpiry).join('; ');
      return {
        ok: false,
        summary: `${expiring.length} of ${total} under minDays ${minDays}: ${named}${notAnswering}`,
        ...evidence,
      };
    }
    if (unreachable.length > 0) {
      const first = unreachable[0]!;
      return {
        ok: false,
        inconclusive: true,
        summary: `${unreachable.length} of ${total} did not answer: ${first.endpoint}: ${first.error}${answered.length > 0 ? `; the others are valid ${soonest!.daysLeft} days or more` : ''}`,
        ...evidence,
      };
    }
    return {
      ok: true,
      summary: `${total}, every certificate valid at least ${minDays} more days; the soonest: ${describeExpiry(soonest!)}`,
      ...evidence,
    };
  },
};

/** Connects to one endpoint and judges its certificate's expiry. */
async function checkEndpoint(
  endpoint: HttpsEndpoint,
  timeout: number,
  minDays: number,
  now: number,
  signal: AbortSignal,
): Promise<EndpointResult> {
  const base = { endpoint: label(endpoint), where: endpoint.where };
  const handshake = await shakeHands(
    { host: endpoint.host, port: endpoint.port, servername: endpoint.servername, timeout },
    undefined,
    signal,
    false,
  );
  if (!handshake.ok) return { ...base, state: 'unreachable', error: handshake.error };
  const { cert } = handshake;
  if (Object.keys(cert).length === 0) {
    return { ...base, state: 'unreachable', error: 'the server sent no certificate' };
  }
  const notAfter = new Date(cert.valid_to);
  const daysLeft = Math.floor((notAfter.getTime() - now) / DAY_MS);
  return {
    ...base,
    state: daysLeft < minDays ? 'expiring' : 'ok',
    daysLeft,
    notAfter: notAfter.toISOString(),
    subject: formatName(cert.subject),
    issuer: formatName(cert.issuer),
    authorized: handshake.authorized,
  };
}

/**
 * Every HTTPS endpoint of `config`, deduplicated by host:port, in the order first met: each
 * `https://` URL in any string (except `environments`, which are other units' settings), then the
 * control plane's own listener when `server.tls` is set, then `extra`.
 */
export function httpsEndpoints(config: Config, extra: readonly string[] = []): HttpsEndpoint[] {
  const found = new Map<string, HttpsEndpoint>();
  const add = (host: string, port: number, servername: string, where: string): void => {
    const endpoint: HttpsEndpoint = { host, port, servername, where: [where] };
    const key = label(endpoint);
    const known = found.get(key);
    if (known === undefined) found.set(key, endpoint);
    else if (!known.where.includes(where)) known.where.push(where);
  };
  const addUrl = (text: string, where: string): void => {
    for (const match of text.matchAll(HTTPS_URL)) {
      // A placeholder such as https://{{vars.host}}/ is no endpoint yet.
      if (match[0].includes('{{')) continue;
      let url: URL;
      try {
        // Prose may end a URL with punctuation.
        url = new URL(match[0].replace(/[.,;:)]+$/, ''));
      } catch {
        continue;
      }
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (host === '') continue;
      add(host, url.port === '' ? HTTPS_PORT : Number(url.port), host, where);
    }
  };
  const walk = (value: unknown, where: string): void => {
    if (typeof value === 'string') addUrl(value, where);
    else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${where}[${i}]`));
    else if (typeof value === 'object' && value !== null) {
      for (const [key, v] of Object.entries(value)) {
        if (where === '' && key === 'environments') continue;
        walk(v, where === '' ? key : `${where}.${key}`);
      }
    }
  };
  walk(config, '');
  if (config.server.tls !== undefined) {
    const { host, port } = parseHostPort(config.server.listen);
    const reach = ANY_ADDRESS[host] ?? host;
    let servername = reach;
    if (config.server.publicUrl !== undefined) servername = new URL(config.server.publicUrl).hostname;
    add(reach, port, servername, 'server.tls');
  }
  extra.forEach((url, i) => addUrl(url, `extra[${i}]`));
  return [...found.values()];
}

function label(endpoint: Pick<HttpsEndpoint, 'host' | 'port'>): string {
  return endpoint.host.includes(':')
    ? `[${endpoint.host}]:${endpoint.port}`
    : `${endpoint.host}:${endpoint.port}`;
}

function describeExpiry(result: EndpointResult): string {
  const left = result.daysLeft!;
  const until = result.notAfter!.slice(0, 10);
  return left < 0
    ? `${result.endpoint} expired ${-left} days ago (${until})`
    : `${result.endpoint} expires in ${left} ${left === 1 ? 'day' : 'days'} (${until})`;
}

function endpointLine(result: EndpointResult): string {
  const where = `[${result.where.join(', ')}]`;
  if (result.state === 'unreachable')
    return `?? ${result.endpoint} ${where}: did not answer: ${result.error}`;
  const mark = result.state === 'expiring' ? 'FAIL' : 'ok';
  return `${mark} ${describeExpiry(result)}, ${result.subject} issued by ${result.issuer} ${where}`;
}
