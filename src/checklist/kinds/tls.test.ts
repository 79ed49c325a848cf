import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../util/clock.js';
import { freePort } from '../../util/net.js';
import { TestCa } from '../../../test/support/certificates.js';
import { testContext } from '../../../test/support/check-context.js';
import { tlsCheck, type TlsParams } from './tls.js';

const DAY_MS = 86_400_000;
const LONG_DAYS = 30;
const SHORT_DAYS = 5;

interface CertFiles {
  key: string;
  cert: string;
}

let dir: string;
const certs: Record<'localhost' | 'short' | 'wrongName', CertFiles> = {} as never;

/** Runs openssl in the temp dir: `words` split on spaces, then `extra` as is (for values with spaces). */
function openssl(words: string, ...extra: string[]): void {
  execFileSync('openssl', [...words.split(' '), ...extra], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const NEW_EC_KEY = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';

/** Issues a certificate for `name` from the test CA, valid `days` from now. */
function issue(file: string, name: string, days: number): CertFiles {
  fs.writeFileSync(
    path.join(dir, `${file}.ext`),
    `subjectAltName=DNS:${name}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  openssl(`req -new ${NEW_EC_KEY} -keyout ${file}.key -out ${file}.csr`, '-subj', `/CN=${name}`);
  const serial = `0x${crypto.randomBytes(8).toString('hex')}`;
  openssl(
    `x509 -req -in ${file}.csr -CA ca.pem -CAkey ca.key -set_serial ${serial} -days ${days} -extfile ${file}.ext -out ${file}.pem`,
  );
  return { key: path.join(dir, `${file}.key`), cert: path.join(dir, `${file}.pem`) };
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-tls-'));
  openssl(
    `req -x509 ${NEW_EC_KEY} -keyout ca.key -out ca.pem -days ${LONG_DAYS}`,
    '-subj',
    '/CN=shipcheck test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  certs.localhost = issue('localhost', 'localhost', LONG_DAYS);
  certs.short = issue('short', 'localhost', SHORT_DAYS);
  certs.wrongName = issue('wrong', 'wrong.example', LONG_DAYS);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** Closes `server` and every connection it holds. */
function track(server: net.Server): void {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
}

/** A TLS server presenting `files` on a free port of 127.0.0.1; `options` limit its TLS versions. */
async function serve(files: CertFiles, options: tls.TlsOptions = {}): Promise<number> {
  const server = tls.createServer(
    { key: fs.readFileSync(files.key), cert: fs.readFileSync(files.cert), ...options },
    (socket) => socket.end(),
  );
  // The check hangs up right after the handshake; the server need not hear about it.
  server.on('tlsClientError', () => {});
  track(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function validToOf(files: CertFiles): Date {
  return new Date(new crypto.X509Certificate(fs.readFileSync(files.cert)).validTo);
}

async function run(input: Record<string, unknown>, overrides: Parameters<typeof testContext>[0] = {}) {
  const params: TlsParams = tlsCheck.params.parse(input);
  return tlsCheck.run(params, testContext({ configDir: dir, ...overrides }));
}

describe('tls params', () => {
  it('fills defaults, servername from host', () => {
    expect(tlsCheck.params.parse({ host: 'example.com' })).toEqual({
      host: 'example.com',
      port: 443,
      servername: 'example.com',
      minDaysValid: 14,
      minVersion: 'TLSv1.2',
      timeout: 10_000,
    });
  });
});

describe('tls check', () => {
  it('passes for a trusted certificate naming the host, valid long enough', async () => {
    const port = await serve(certs.localhost);
    const result = await run({ host: '127.0.0.1', port, servername: 'localhost', ca: 'ca.pem' });
    expect(result.ok, result.summary).toBe(true);
    expect(result.summary).toMatch(
      new RegExp(
        `^127\\.0\\.0\\.1:${port} \\(localhost\\): certificate for CN=localhost valid \\d+ days more \\(until \\d{4}-\\d\\d-\\d\\d\\), TLSv1\\.3$`,
      ),
    );
    expect(result.value).toBeGreaterThanOrEqual(LONG_DAYS - 1);
    expect(result.value).toBeLessThanOrEqual(LONG_DAYS);
    expect(result.data).toMatchObject({
      subject: 'CN=localhost',
      issuer: 'CN=shipcheck test CA',
      authorized: true,
      daysLeft: result.value,
      validTo: validToOf(certs.localhost).toISOString(),
      protocol: 'TLSv1.3',
      minVersion: 'TLSv1.2',
    });
  });

  it('counts days with the context clock', async () => {
    const port = await serve(certs.localhost);
    const validTo = validToOf(certs.localhost).getTime();
    const clock = new ManualClock(validTo - 20 * DAY_MS - DAY_MS / 2);
    const result = await run({ host: '127.0.0.1', port, servername: 'localhost', ca: 'ca.pem' }, { clock });
    expect(result).toMatchObject({ ok: true, value: 20 });
    clock.set(validTo + 3 * DAY_MS);
    const expired = await run({ host: '127.0.0.1', port, servername: 'localhost', ca: 'ca.pem' }, { clock });
    expect(expired.ok).toBe(false);
    expect(expired.summary).toMatch(/: certificate expired 3 days ago \(\d{4}-\d\d-\d\d\)$/);
  });

  it('fails when the certificate expires in fewer than minDaysValid days', async () => {
    const port = await serve(certs.short);
    const result = await run({ host: '127.0.0.1', port, servername: 'localhost', ca: 'ca.pem' });
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(
      /: certificate expires in [45] days \(\d{4}-\d\d-\d\d\), under minDaysValid 14$/,
    );
    const relaxed = await run({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: 'ca.pem',
      minDaysValid: 3,
    });
    expect(relaxed.ok, relaxed.summary).toBe(true);
  });

  it('fails when the certificate names another host', async () => {
    const port = await serve(certs.wrongName);
    const result = await run({ host: '127.0.0.1', port, servername: 'localhost', ca: 'ca.pem' });
    expect(result.ok).toBe(false);
    expect(result.summary).toBe(
      `127.0.0.1:${port} (localhost): certificate does not match localhost: Host: localhost. is not in the cert's altnames: DNS:wrong.example`,
    );
    expect(result.data).toMatchObject({ authorized: true, subject: 'CN=wrong.example' });
  });

  it('fails when the certificate is not trusted, saying why', async () => {
    const port = await serve(certs.localhost);
    const result = await run({ host: '127.0.0.1', port, servername: 'localhost' });
    expect(result.ok).toBe(false);
    expect(result.summary).toBe(
      `127.0.0.1:${port} (localhost): certificate not trusted: UNABLE_TO_VERIFY_LEAF_SIGNATURE, no trusted CA issued it (for a private CA set ca; otherwise the server may omit its intermediate certificates)`,
    );
    expect(result.data).toMatchObject({ authorized: false });
  });

  it('fails when the ca file cannot be read', async () => {
    const result = await run({ host: '127.0.0.1', port: 1, ca: 'missing.pem' });
    expect(result.ok).toBe(false);
    expect(result.summary).toContain(`cannot read ca ${path.join(dir, 'missing.pem')}: ENOENT`);
  });

  it('fails with the connect error when nothing listens', async () => {
    const port = await freePort();
    const result = await run({ host: '127.0.0.1', port });
    expect(result).toMatchObject({
      ok: false,
      summary: `127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
    });
  });

  it('gives up when the server never completes the handshake', async () => {
    const server = net.createServer(() => {}); // accepts, then says nothing
    track(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const result = await run({ host: '127.0.0.1', port, timeout: '200ms' });
    expect(result).toMatchObject({ ok: false, summary: `127.0.0.1:${port}: no TLS handshake within 200ms` });
  });
});

describe('tls check: expiry, trust and version as served', () => {
  const SERVER_NAMES = ['DNS:localhost', 'IP:127.0.0.1'];
  let ca: TestCa;
  beforeAll(() => {
    ca = TestCa.create('tls check CA');
  });
  afterAll(() => ca.remove());

  /** The check against 127.0.0.1:port as localhost, trusting the CA unless `params` say otherwise. */
  const check = (port: number, params: Record<string, unknown> = {}) =>
    run({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.cert, ...params });

  it('fails on a certificate that expired, with when', async () => {
    const expired = ca.issue('expired', {
      names: SERVER_NAMES,
      between: ['20200101000000Z', '20200201000000Z'],
    });
    const result = await check(await serve(expired));
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(
      /: certificate not trusted: CERT_HAS_EXPIRED, a certificate in the chain has expired; expired \d+ days ago \(2020-02-01\)$/,
    );
    expect(result.data).toMatchObject({ validTo: '2020-02-01T00:00:00.000Z', authorized: false });
  });

  it('fails on a self-signed certificate that nothing trusts', async () => {
    const alone = ca.selfSigned('alone', SERVER_NAMES);
    const result = await check(await serve(alone), { ca: undefined });
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(
      /: certificate not trusted: DEPTH_ZERO_SELF_SIGNED_CERT, self-signed \(set ca to trust it\)$/,
    );
  });

  it('fails on a server that speaks TLS 1.1 at most, saying which version it offers', async () => {
    const good = ca.issue('old-server', { names: SERVER_NAMES });
    // Node's OpenSSL serves TLS 1.1 only at security level 0.
    const port = await serve(good, {
      minVersion: 'TLSv1.1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT:@SECLEVEL=0',
    });
    const result = await check(port);
    expect(result).toMatchObject({
      ok: false,
      summary: `127.0.0.1:${port} (localhost): negotiates TLSv1.1 at most, below minVersion TLSv1.2`,
      data: { protocol: 'TLSv1.1', minVersion: 'TLSv1.2' },
    });
    // An item that accepts TLS 1.1 says so, and then passes
    const lenient = await check(port, { minVersion: 'TLSv1.1' });
    expect(lenient.ok, lenient.summary).toBe(true);
    expect(lenient.summary).toMatch(/, TLSv1\.1$/);
  });

  it('fails minVersion TLSv1.3 on a server limited to TLS 1.2', async () => {
    const good = ca.issue('tls12-server', { names: SERVER_NAMES });
    const port = await serve(good, { maxVersion: 'TLSv1.2' });
    const result = await check(port, { minVersion: 'TLSv1.3' });
    expect(result.ok).toBe(false);
    expect(result.summary).toBe(
      `127.0.0.1:${port} (localhost): negotiated TLSv1.2, below minVersion TLSv1.3`,
    );
    expect(result.data).toMatchObject({ protocol: 'TLSv1.2', authorized: true });
    expect((await check(port)).ok).toBe(true);
  });
});
