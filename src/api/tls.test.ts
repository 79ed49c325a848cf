import fs from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/e2e/harness.js';
import { type CertFiles, TestCa, fingerprintOf, replaceAtomically } from '../../test/support/certificates.js';
import { installationOf } from '../config/installation.js';
import { loadConfig } from '../config/loader.js';
import { ConfigError } from '../errors.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/types.js';
import { buildApi, createRegistry } from './server.js';
import { HSTS_HEADER, HSTS_VALUE, type TlsFiles, apiTlsOf, tlsServerOptions } from './tls.js';

/** Fast enough that a test does not wait a second per change; the default is 1 s. */
const TEST_POLL_MS = 50;
const SERVER_NAMES = ['DNS:localhost', 'IP:127.0.0.1'];

let ca: TestCa;
let first: CertFiles;
let second: CertFiles;
let client: CertFiles;

beforeAll(() => {
  ca = TestCa.create();
  first = ca.issue('first', { names: SERVER_NAMES });
  second = ca.issue('second', { names: SERVER_NAMES });
  client = ca.issue('client', { names: ['DNS:operator'], use: 'client' });
});

afterAll(() => ca.remove());

/** Log lines of the API under test, to know when a reload was tried. */
class Logs {
  readonly lines: string[] = [];
  readonly logger = pino({ level: 'info' }, { write: (line: string) => void this.lines.push(line) });

  has(text: string): boolean {
    return this.lines.some((line) => line.includes(text));
  }
}

interface Running {
  app: FastifyInstance;
  store: Store;
  port: number;
  logs: Logs;
  /** Why the server refused handshakes, as OpenSSL's codes. */
  refusals: string[];
  /** Connections that completed the handshake and were accepted. */
  accepted: () => number;
}

const running: Running[] = [];

afterEach(async () => {
  for (const { app, store } of running.splice(0)) {
    await app.close();
    await store.close();
  }
});

/** The API alone (no services) over HTTPS on a free port, its files copied to `dir` so they can change. */
async function startApi(files: TlsFiles, afterLoad?: () => void): Promise<Running> {
  const logs = new Logs();
  const apiTls = await tlsServerOptions(files, logs.logger, { pollMs: TEST_POLL_MS });
  afterLoad?.();
  const store = await openStore('sqlite::memory:');
  const app = buildApi({
    engines: new Map(),
    store,
    logger: logs.logger,
    registry: createRegistry(),
    tls: apiTls,
  });
  const refusals: string[] = [];
  let accepted = 0;
  app.server.on('tlsClientError', (err: NodeJS.ErrnoException) => refusals.push(err.code ?? err.message));
  app.server.on('secureConnection', () => (accepted += 1));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const started = { app, store, port, logs, refusals, accepted: () => accepted };
  running.push(started);
  return started;
}

/** A copy of a certificate and key at paths the test then replaces. */
function liveCopy(files: CertFiles, name: string): CertFiles {
  const live = { cert: path.join(ca.dir, `${name}-live.pem`), key: path.join(ca.dir, `${name}-live.key`) };
  fs.copyFileSync(files.cert, live.cert);
  fs.copyFileSync(files.key, live.key);
  return live;
}

/** GET over HTTPS, trusting the test CA, optionally presenting a client certificate. */
function get(
  port: number,
  route: string,
  identity?: CertFiles,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(
      {
        host: '127.0.0.1',
        port,
        path: route,
        ca: fs.readFileSync(ca.cert),
        // A fresh connection each time, so that each request sees the certificate served now.
        agent: false,
        ...(identity ? { cert: fs.readFileSync(identity.cert), key: fs.readFileSync(identity.key) } : {}),
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
  });
}

/** The fingerprint of the certificate a new TLS connection is shown; it must verify against the CA. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(ca.cert) }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

describe('the API over HTTPS', () => {
  it('answers /healthz to a client that trusts its CA, with HSTS, and so every other answer', async () => {
    const { port } = await startApi(first);
    const health = await get(port, '/healthz');
    expect(health).toMatchObject({ status: 200, body: '{"ok":true}' });
    expect(health.headers[HSTS_HEADER]).toBe(HSTS_VALUE);
    const missing = await get(port, '/no/such/route');
    expect(missing.status).toBe(404);
    expect(missing.headers[HSTS_HEADER]).toBe(HSTS_VALUE);
    expect(await servedFingerprint(port)).toBe(fingerprintOf(first.cert));
  });

  it('refuses TLS 1.1 and older', async () => {
    const { port } = await startApi(first);
    const outcome = await new Promise<string>((resolve) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        ca: fs.readFileSync(ca.cert),
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
        ciphers: 'DEFAULT:@SECLEVEL=0',
      });
      socket.on('secureConnect', () => {
        resolve(`connected with ${socket.getProtocol()}`);
        socket.destroy();
      });
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    expect(outcome).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
  });

  it('serves a certificate renamed over the old one to new connections, without a restart', async () => {
    const live = liveCopy(first, 'rotate');
    const { port, logs } = await startApi(live);
    expect(await servedFingerprint(port)).toBe(fingerprintOf(first.cert));

    // When a certificate manager writes the new pair beside the old one and renames it over
    replaceAtomically(live.cert, fs.readFileSync(second.cert));
    replaceAtomically(live.key, fs.readFileSync(second.key));

    // Then new connections get it
    await waitFor(
      'the new certificate',
      async () => (await servedFingerprint(port)) === fingerprintOf(second.cert),
    );
    expect((await get(port, '/healthz')).status).toBe(200);
    expect(logs.has(`server.tls: new connections get CN=localhost`)).toBe(true);

    // When a broken pair replaces it (the first certificate with the second one's key)
    replaceAtomically(live.cert, fs.readFileSync(first.cert));
    await waitFor('the refused reload', () => logs.has('server.tls: kept the certificate in use'));

    // Then the pair in use is kept and said why
    expect(logs.lines.join('')).toContain(`is not the key of the certificate in ${live.cert}`);
    expect(await servedFingerprint(port)).toBe(fingerprintOf(second.cert));
    expect((await get(port, '/healthz')).status).toBe(200);
  });

  it('serves a certificate replaced after it was read but before the files were watched', async () => {
    // Given a pair replaced between the load and the start of watching (the watcher's first stat
    // would take the new files as its baseline)
    const live = liveCopy(first, 'early');
    const { port } = await startApi(live, () => {
      replaceAtomically(live.cert, fs.readFileSync(second.cert));
      replaceAtomically(live.key, fs.readFileSync(second.key));
    });
    // Then new connections still get the new pair
    await waitFor(
      'the new certificate',
      async () => (await servedFingerprint(port)) === fingerprintOf(second.cert),
    );
  });

  it('with clientCA, refuses a client without a certificate at the handshake and lets a signed one in', async () => {
    const { port, refusals, accepted } = await startApi({ ...first, clientCA: ca.cert });
    // The client may read the server's alert or only the reset that follows it.
    const REFUSED = /^(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ERR_SSL_TLSV1_ALERT_UNKNOWN_CA|ECONNRESET)$/;
    const refused = await get(port, '/healthz').then(
      (answer) => `answered ${answer.status}`,
      (err: NodeJS.ErrnoException) => err.code ?? err.message,
    );
    expect(refused).toMatch(REFUSED);
    // A refused client may also reset the connection; the server reports that after the refusal.
    const refusedBy = (): string[] => refusals.filter((code) => code !== 'ECONNRESET');
    await waitFor('the refusal', () => refusedBy().length === 1);
    expect(refusedBy()).toEqual(['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE']);

    const stranger = TestCa.create('another CA');
    try {
      const foreign = stranger.issue('foreign', { names: ['DNS:operator'], use: 'client' });
      const foreignRefused = await get(port, '/healthz', foreign).then(
        (answer) => `answered ${answer.status}`,
        (err: NodeJS.ErrnoException) => err.code ?? err.message,
      );
      expect(foreignRefused).toMatch(REFUSED);
      // Node verifies a client's certificate as the handshake ends, and hangs up on one it refuses.
      expect(accepted()).toBe(0);
    } finally {
      stranger.remove();
    }

    const admitted = await get(port, '/healthz', client);
    expect(admitted.status).toBe(200);
    expect(admitted.headers[HSTS_HEADER]).toBe(HSTS_VALUE);
    expect(accepted()).toBe(1);
  });
});

describe('server.tls at startup', () => {
  it('resolves paths against the config file and names file:line:col of a file it cannot read', async () => {
    const dir = fs.mkdtempSync(path.join(ca.dir, 'config-'));
    fs.mkdirSync(path.join(dir, 'tls'));
    fs.copyFileSync(first.cert, path.join(dir, 'tls', 'api.pem'));
    const file = path.join(dir, 'shipcheck.yaml');
    fs.writeFileSync(
      file,
      `service: web
server:
  listen: 127.0.0.1:0
  tls: { cert: tls/api.pem, key: tls/api.key }
fleet: { kind: local, command: ["${process.execPath}", "app.js"] }
`,
    );
    const installation = installationOf(await loadConfig(file));
    const logger = pino({ level: 'silent' });
    const failure = await apiTlsOf(installation, logger).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as ConfigError).problems).toEqual([
      `${file}:4:29: server.tls.key ${path.join(dir, 'tls', 'api.key')}: cannot read (ENOENT: no such file or directory, open '${path.join(dir, 'tls', 'api.key')}')`,
    ]);

    fs.copyFileSync(first.key, path.join(dir, 'tls', 'api.key'));
    const apiTls = await apiTlsOf(installation, logger);
    expect(apiTls?.https).toMatchObject({ minVersion: 'TLSv1.2' });
    expect(apiTls?.https).not.toHaveProperty('requestCert');
  });

  it('needs both cert and key', async () => {
    const file = path.join(fs.mkdtempSync(path.join(ca.dir, 'config-')), 'shipcheck.yaml');
    fs.writeFileSync(
      file,
      `service: web\nserver:\n  tls: { cert: api.pem }\nfleet: { kind: local, command: ["${process.execPath}"] }\n`,
    );
    const failure = await loadConfig(file).catch((err: unknown) => err);
    expect((failure as ConfigError).problems).toEqual([`${file}:3:3: server.tls.key: required`]);
  });

  it('says when a file is not PEM', async () => {
    const notPem = path.join(ca.dir, 'not-pem.txt');
    fs.writeFileSync(notPem, 'hello');
    const failure = await tlsServerOptions({ cert: notPem, key: first.key }, pino({ level: 'silent' })).catch(
      (err: unknown) => err,
    );
    expect((failure as ConfigError).problems[0]).toMatch(
      new RegExp(`^server\\.tls\\.cert ${notPem.replace(/[.]/g, '\\.')} is not a PEM certificate \\(`),
    );
  });
});
