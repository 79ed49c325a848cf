import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import { z } from 'zod';
import { duration } from '../../config/schema.js';
import { formatDuration } from '../../util/duration.js';
import type { CheckKind, CheckResult } from '../types.js';
import { errorMessage } from '../../errors.js';

const DAY_MS = 86_400_000;
const DEFAULT_PORT = 443;
const DEFAULT_MIN_DAYS = 14;
const PORT_MAX = 65535;
/** TLS versions, oldest first; the check fails below `minVersion`. */
const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
type TlsVersion = (typeof TLS_VERSIONS)[number];
const DEFAULT_MIN_VERSION: TlsVersion = 'TLSv1.2';
/**
 * OpenSSL 3 refuses TLS 1.0 and 1.1 at its default security level; level 0 lets the check shake hands
 * with such a server, to say what it speaks (or because the item accepts it).
 */
const LEGACY_OPTIONS = { minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' } as const;

const NO_TRUSTED_ISSUER =
  'no trusted CA issued it (for a private CA set ca; otherwise the server may omit its intermediate certificates)';
/** OpenSSL verify codes a person meets most, in words that say what to do. */
const TRUST_ERRORS: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: NO_TRUSTED_ISSUER,
  UNABLE_TO_GET_ISSUER_CERT: NO_TRUSTED_ISSUER,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: NO_TRUSTED_ISSUER,
  SELF_SIGNED_CERT_IN_CHAIN: 'signed by a self-signed CA that is not trusted (set ca to trust it)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed (set ca to trust it)',
  CERT_HAS_EXPIRED: 'a certificate in the chain has expired',
  CERT_NOT_YET_VALID: 'a certificate in the chain is not valid yet',
};

const tlsParamsSchema = z
  .strictObject({
    host: z.string().min(1).describe('Host name or IP to connect to.'),
    port: z
      .number()
      .int()
      .min(1, 'a port is 1-65535')
      .max(PORT_MAX, 'a port is 1-65535')
      .prefault(DEFAULT_PORT)
      .describe('TLS port.'),
    servername: z
      .string()
      .min(1)
      .optional()
      .describe('Name sent as SNI and checked against the certificate (default: host).'),
    minDaysValid: z
      .number()
      .int()
      .min(0)
      .prefault(DEFAULT_MIN_DAYS)
      .describe('Fails when the certificate expires in fewer days than this.'),
    ca: z
      .string()
      .min(1)
      .optional()
      .describe(
        "PEM file of the CA(s) to trust instead of the system's, relative to the config file; for private CAs.",
      ),
    minVersion: z
      .enum(TLS_VERSIONS)
      .prefault(DEFAULT_MIN_VERSION)
      .describe('Fails when the server negotiates an older TLS version than this.'),
    timeout: duration.prefault('10s').describe('The connection and handshake must finish within this.'),
  })
  .transform((params) => ({ ...params, servername: params.servername ?? params.host }));

/** Validated `tls` params: `servername` filled in from host; durations in ms. */
export type TlsParams = z.output<typeof tlsParamsSchema>;

/** What the handshake showed, or why there was none. */
export type Handshake =
  | {
      ok: true;
      cert: PeerCertificate;
      authorized: boolean;
      authorizationError: string | undefined;
      protocol: string | null;
    }
  | { ok: false; error: string; code: string | undefined };

/**
 * `tls`: the certificate at host:port is trusted, names the host, stays valid long enough, and the
 * server negotiates TLS `minVersion` or later.
 */
export const tlsCheck: CheckKind<TlsParams> = {
  kind: 'tls',
  params: tlsParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const address = params.host.includes(':')
      ? `[${params.host}]:${params.port}`
      : `${params.host}:${params.port}`;
    const label = params.servername === params.host ? address : `${address} (${params.servername})`;
    let ca: Buffer | undefined;
    if (params.ca !== undefined) {
      const caPath = path.resolve(context.configDir, params.ca);
      try {
        ca = await fs.readFile(caPath);
      } catch (err) {
        return { ok: false, summary: `${label}: cannot read ca ${caPath}: ${errorMessage(err)}` };
      }
    }
    if (context.signal.aborted) return { ok: false, summary: `${label}: aborted` };

    const legacy = versionRank(params.minVersion) < versionRank(DEFAULT_MIN_VERSION);
    const handshake = await shakeHands(params, ca, context.signal, legacy);
    if (!handshake.ok) {
      // A server that speaks only versions the default handshake refuses is asked again, to say which.
      const older = !legacy && isProtocolRefusal(handshake.code) && !context.signal.aborted;
      const probe = older ? await shakeHands(params, ca, context.signal, true) : undefined;
      if (probe?.ok && probe.protocol !== null) {
        return {
          ok: false,
          summary: `${label}: negotiates ${probe.protocol} at most, below minVersion ${params.minVersion}`,
          data: { protocol: probe.protocol, minVersion: params.minVersion },
        };
      }
    }
    if (!handshake.ok) return { ok: false, summary: `${label}: ${handshake.error}` };

    const { cert } = handshake;
    if (Object.keys(cert).length === 0)
      return { ok: false, summary: `${label}: the server sent no certificate` };
    const validTo = new Date(cert.valid_to);
    const daysLeft = Math.floor((validTo.getTime() - context.clock.now()) / DAY_MS);
    const until = validTo.toISOString().slice(0, 10);
    const data = {
      subject: formatName(cert.subject),
      issuer: formatName(cert.issuer),
      subjectAltName: cert.subjectaltname,
      validFrom: new Date(cert.valid_from).toISOString(),
      validTo: validTo.toISOString(),
      daysLeft,
      authorized: handshake.authorized,
      fingerprint256: cert.fingerprint256,
      protocol: handshake.protocol,
      minVersion: params.minVersion,
    };

    const problems: string[] = [];
    if (!handshake.authorized) problems.push(`not trusted: ${explainTrust(handshake.authorizationError)}`);
    const mismatch = tls.checkServerIdentity(params.servername, cert);
    if (mismatch !== undefined) {
      // The reason names the altnames the certificate does carry, which is what a person needs to fix it.
      const reason = (mismatch as Error & { reason?: string }).reason ?? mismatch.message;
      problems.push(`does not match ${params.servername}: ${reason}`);
    }
    if (daysLeft < 0) problems.push(`expired ${-daysLeft} days ago (${until})`);
    else if (daysLeft < params.minDaysValid) {
      problems.push(`expires in ${days(daysLeft)} (${until}), under minDaysValid ${params.minDaysValid}`);
    }
    const said = problems.length > 0 ? [`certificate ${problems.join('; ')}`] : [];
    if (handshake.protocol === null || versionRank(handshake.protocol) < versionRank(params.minVersion)) {
      said.push(
        `negotiated ${handshake.protocol ?? 'no TLS version'}, below minVersion ${params.minVersion}`,
      );
    }
    if (said.length > 0) {
      return { ok: false, summary: `${label}: ${said.join('; ')}`, value: daysLeft, data };
    }
    return {
      ok: true,
      summary: `${label}: certificate for ${data.subject} valid ${days(daysLeft)} more (until ${until}), ${handshake.protocol}`,
      value: daysLeft,
      data,
    };
  },
};

/**
 * One handshake with `rejectUnauthorized: false`, so that trust and name are judged from what it
 * shows. The `certificates` kind uses it for every HTTPS endpoint of the config.
 */
export function shakeHands(
  params: Pick<TlsParams, 'host' | 'port' | 'servername' | 'timeout'>,
  ca: Buffer | undefined,
  signal: AbortSignal,
  legacy: boolean,
): Promise<Handshake> {
  return new Promise<Handshake>((resolve) => {
    const socket = tls.connect({
      host: params.host,
      port: params.port,
      // SNI carries names only; an IP there is refused by some servers and ignored by the rest.
      ...(net.isIP(params.servername) ? {} : { servername: params.servername }),
      ...(ca === undefined ? {} : { ca }),
      ...(legacy ? LEGACY_OPTIONS : {}),
      // Trust and name are judged by the caller, so that a bad certificate is still read and every
      // problem reported; without this Node folds a name mismatch into authorizationError.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    const finish = (result: Handshake): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    const onAbort = (): void => finish({ ok: false, error: 'aborted', code: undefined });
    const timer = setTimeout(
      () =>
        finish({
          ok: false,
          error: `no TLS handshake within ${formatDuration(params.timeout)}`,
          code: undefined,
        }),
      params.timeout,
    );
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('secureConnect', () => {
      const authorizationError: unknown = socket.authorizationError;
      finish({
        ok: true,
        cert: socket.getPeerCertificate(),
        authorized: socket.authorized,
        authorizationError:
          authorizationError === undefined || authorizationError === null
            ? undefined
            : authorizationError instanceof Error
              ? authorizationError.message
              : String(authorizationError),
        protocol: socket.getProtocol(),
      });
    });
    socket.once('error', (err: NodeJS.ErrnoException) =>
      finish({ ok: false, error: errorMessage(err), code: err.code }),
    );
  });
}

/** OpenSSL's ways of saying the two sides share no TLS version. */
function isProtocolRefusal(code: string | undefined): boolean {
  return (
    code === 'ERR_SSL_UNSUPPORTED_PROTOCOL' ||
    code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' ||
    code === 'ERR_SSL_NO_PROTOCOLS_AVAILABLE' ||
    code === 'ERR_SSL_WRONG_VERSION_NUMBER'
  );
}

/** A version's place in TLS_VERSIONS; anything else (`unknown`, SSLv3) ranks below them all. */
function versionRank(version: string): number {
  return (TLS_VERSIONS as readonly string[]).indexOf(version);
}

function explainTrust(code: string | undefined): string {
  if (code === undefined) return 'unknown reason';
  const words = TRUST_ERRORS[code];
  return words === undefined ? code : `${code}, ${words}`;
}

function days(count: number): string {
  return count === 1 ? '1 day' : `${count} days`;
}

/** `CN=localhost, O=Example`: the distinguished name a person recognises. */
export function formatName(name: PeerCertificate['subject'] | undefined): string {
  if (name === undefined) return '';
  return Object.entries(name)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('+') : String(value)}`)
    .join(', ');
}
