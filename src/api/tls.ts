/**
 * HTTPS for the API and dashboard (`server.tls`): the server options, HSTS on every response, and
 * certificates replaced on disk picked up without a restart.
 *
 * Files are watched with `fs.watchFile` (a stat of each path every second) rather than `fs.watch`.
 * Certificate managers replace files by renaming a new file over the old one, and Kubernetes swaps a
 * symlink to a new folder: an inotify watch on the file follows the old inode and goes quiet, and a
 * watch on the folder reports the folder's entries, not the path we read. A stat of the path sees
 * all of these (new inode, size or mtime), as well as files on network filesystems that send no
 * events, for the price of one stat per file per second.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { Installation } from '../config/installation.js';
import { ConfigError, errorMessage } from '../errors.js';

/** The header that tells browsers to use HTTPS only for this host. */
export const HSTS_HEADER = 'strict-transport-security';
/** One year, in seconds: long enough for browsers to keep it, as commonly recommended. */
export const HSTS_VALUE = 'max-age=31536000';
/** The oldest TLS version the server accepts. */
export const MIN_TLS_VERSION = 'TLSv1.2';
/** How often the certificate, key and client CA files are stat'ed for changes. */
const POLL_MS = 1000;

/** `server.tls` with absolute paths. */
export interface TlsFiles {
  /** PEM certificate chain, the server's certificate first. */
  cert: string;
  /** PEM private key of that certificate. */
  key: string;
  /** PEM CA(s) that must have signed a client's certificate; no client certificate is asked when absent. */
  clientCA?: string | undefined;
}

/** What the API server needs to serve HTTPS; built by `tlsServerOptions`. */
export interface ApiTls {
  /** The options the server starts with, read from the files when it was built. */
  readonly https: https.ServerOptions;
  /**
   * Fastify's `serverFactory`: an HTTPS server that sets HSTS on every response (including ones sent
   * before any Fastify hook, or on a hijacked stream) and watches the files while it listens.
   */
  serverFactory(handler: http.RequestListener): https.Server;
  /**
   * Watches the files and loads a changed pair into `server` for new connections; a pair that does not
   * load is logged and the one in use kept. Returns a function that stops watching.
   */
  watch(server: tls.Server): () => void;
}

/** Options of `tlsServerOptions`; tests poll faster than the default second. */
export interface TlsServerOptions {
  /** Between two stats of each file; 1 s by default. */
  pollMs?: number;
  /** Where a setting is written (`file:line:col`), for startup errors; the setting alone when absent. */
  locate?: (key: readonly string[]) => string;
}

/** The PEM material of one load, and what it says about itself for logs. */
interface Material {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  /** `CN=localhost, valid until 2027-01-01, sha256 AB:CD:…` */
  summary: string;
}

type Setting = 'cert' | 'key' | 'clientCA';

/** A file that cannot be read or used, named by its setting and path. */
class TlsFileProblem extends Error {
  constructor(
    readonly setting: Setting,
    message: string,
  ) {
    super(`server.tls.${setting} ${message}`);
  }
}

/**
 * Reads `files` and builds the HTTPS options: TLS 1.2 or later, and with `clientCA` a client
 * certificate signed by it required at the handshake. A file that cannot be read, is not PEM, or a key
 * that does not belong to the certificate is a `ConfigError` naming the setting, the path and, with
 * `locate`, where the setting is written.
 */
export async function tlsServerOptions(
  files: TlsFiles,
  logger: Logger,
  options: TlsServerOptions = {},
): Promise<ApiTls> {
  let material: Material;
  try {
    material = await loadMaterial(files);
  } catch (err) {
    if (!(err instanceof TlsFileProblem)) throw err;
    const where = options.locate?.(['server', 'tls', err.setting]);
    throw new ConfigError([where ? `${where}: ${err.message}` : err.message], { cause: err });
  }
  const pollMs = options.pollMs ?? POLL_MS;
  const log = logger.child({ component: 'tls' });
  const initial: https.ServerOptions = {
    ...contextOptions(material),
    ...(files.clientCA === undefined ? {} : { requestCert: true, rejectUnauthorized: true }),
  };
  log.info(`server.tls: serving ${material.summary}`);

  const watch = (server: tls.Server): (() => void) => {
    let current = material;
    let timer: NodeJS.Timeout | undefined;
    let loading: Promise<void> = Promise.resolve();
    const reload = async (): Promise<void> => {
      let next: Material;
      try {
        next = await loadMaterial(files);
      } catch (err) {
        log.error(`server.tls: kept the certificate in use (${current.summary}): ${errorMessage(err)}`);
        return;
      }
      if (sameMaterial(next, current)) return;
      try {
        server.setSecureContext(contextOptions(next));
      } catch (err) {
        log.error(`server.tls: kept the certificate in use (${current.summary}): ${errorMessage(err)}`);
        return;
      }
      current = next;
      log.info(`server.tls: new connections get ${next.summary}`);
    };
    // A certificate manager renames the certificate and the key one after the other: wait a poll
    // after the last change so that both are read together, rather than a mismatched pair in between.
    const onChange = (now: fs.Stats, before: fs.Stats): void => {
      if (now.ino === before.ino && now.mtimeMs === before.mtimeMs && now.size === before.size) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        loading = loading.then(reload);
      }, pollMs);
    };
    const watched = [files.cert, files.key, ...(files.clientCA === undefined ? [] : [files.clientCA])];
    for (const file of watched) fs.watchFile(file, { interval: pollMs, persistent: false }, onChange);
    // fs.watchFile takes its first stat in the background: a file replaced between the load above and
    // that stat is its baseline, and never a change. One reload a poll later catches that; an
    // unchanged pair is left alone.
    timer = setTimeout(() => {
      loading = loading.then(reload);
    }, pollMs);
    return () => {
      clearTimeout(timer);
      for (const file of watched) fs.unwatchFile(file, onChange);
    };
  };

  return {
    https: initial,
    watch,
    serverFactory(handler) {
      const server = https.createServer(initial, (request, response) => {
        response.setHeader(HSTS_HEADER, HSTS_VALUE);
        handler(request, response);
      });
      server.once('listening', () => {
        const stop = watch(server);
        server.once('close', stop);
      });
      return server;
    },
  };
}

/**
 * The installation's `server.tls` as `ApiTls`, paths resolved against the folder of the file that
 * `shipcheck up` was given; undefined when TLS is off. A startup problem names `file:line:col` for a
 * lone service file, and the control-plane file otherwise.
 */
export async function apiTlsOf(installation: Installation, logger: Logger): Promise<ApiTls | undefined> {
  const settings = installation.server.tls;
  if (settings === undefined) return undefined;
  const resolve = (file: string): string => path.resolve(installation.dir, file);
  const only = installation.form === 'service' ? installation.services[0] : undefined;
  const locate = (key: readonly string[]): string => (only ? only.locate(key) : installation.file);
  const files: TlsFiles = {
    cert: resolve(settings.cert),
    key: resolve(settings.key),
    clientCA: settings.clientCA === undefined ? undefined : resolve(settings.clientCA),
  };
  return tlsServerOptions(files, logger, { locate });
}

/** What a secure context is made of; the same at start and on every reload. */
function contextOptions(material: Material): tls.SecureContextOptions {
  return {
    cert: material.cert,
    key: material.key,
    minVersion: MIN_TLS_VERSION,
    ...(material.ca === undefined ? {} : { ca: material.ca }),
  };
}

/** Reads and checks the files; throws `TlsFileProblem` saying which one is wrong and how. */
async function loadMaterial(files: TlsFiles): Promise<Material> {
  const cert = await readSetting('cert', files.cert);
  const key = await readSetting('key', files.key);
  const ca = files.clientCA === undefined ? undefined : await readSetting('clientCA', files.clientCA);
  const x509 = parse('cert', files.cert, () => new crypto.X509Certificate(cert), 'a PEM certificate');
  const privateKey = parse('key', files.key, () => crypto.createPrivateKey(key), 'a PEM private key');
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsFileProblem('key', `${files.key} is not the key of the certificate in ${files.cert}`);
  }
  if (ca !== undefined && files.clientCA !== undefined) {
    parse('clientCA', files.clientCA, () => new crypto.X509Certificate(ca), 'a PEM certificate');
  }
  const material: Material = {
    cert,
    key,
    ca,
    summary: `${x509.subject.replace(/\n/g, ', ')}, valid until ${new Date(x509.validTo).toISOString().slice(0, 10)}, sha256 ${x509.fingerprint256}`,
  };
  // Whatever else OpenSSL refuses (a chain it cannot use, say) is found here rather than mid-handshake.
  try {
    tls.createSecureContext(contextOptions(material));
  } catch (err) {
    throw new TlsFileProblem('cert', `${files.cert}: ${errorMessage(err)}`);
  }
  return material;
}

async function readSetting(setting: Setting, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new TlsFileProblem(setting, `${file}: cannot read (${errorMessage(err)})`);
  }
}

function parse<T>(setting: Setting, file: string, read: () => T, what: string): T {
  try {
    return read();
  } catch (err) {
    throw new TlsFileProblem(setting, `${file} is not ${what} (${errorMessage(err)})`);
  }
}

function sameMaterial(a: Material, b: Material): boolean {
  const sameCa = a.ca === undefined ? b.ca === undefined : b.ca !== undefined && a.ca.equals(b.ca);
  return a.cert.equals(b.cert) && a.key.equals(b.key) && sameCa;
}
