import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../config/schema.js';
import { ManualClock } from '../../util/clock.js';
import { freePort } from '../../util/net.js';
import { TestCa, type CertFiles } from '../../../test/support/certificates.js';
import { testContext } from '../../../test/support/check-context.js';
import { NO_ENDPOINT, certificatesCheck, httpsEndpoints } from './certificates.js';

const DAY_MS = 86_400_000;
const NAMES = ['DNS:localhost', 'IP:127.0.0.1'];

let ca: TestCa;
let soon: CertFiles;
let later: CertFiles;
beforeAll(() => {
  ca = TestCa.create('certificates check CA');
  soon = ca.issue('soon', { names: NAMES, days: 10 });
  later = ca.issue('later', { names: NAMES, days: 90 });
});
afterAll(() => ca.remove());

const servers: tls.Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
        }),
    ),
  );
});

/** A TLS server presenting `files` on a free port of 127.0.0.1. */
async function serve(files: CertFiles): Promise<number> {
  const server = tls.createServer(
    { key: fs.readFileSync(files.key), cert: fs.readFileSync(files.cert) },
    (socket) => socket.end(),
  );
  server.on('tlsClientError', () => {});
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A service config with `extra` merged in. */
function config(extra: Record<string, unknown>) {
  return configSchema.parse({ service: 'web', fleet: { kind: 'local', command: 'true' }, ...extra });
}

/** The clock `days` days before `files` expires (and a few hours, so whole days count cleanly). */
function clockBefore(files: CertFiles, days: number): ManualClock {
  const validTo = new Date(new crypto.X509Certificate(fs.readFileSync(files.cert)).validTo).getTime();
  return new ManualClock(validTo - days * DAY_MS - DAY_MS / 4);
}

async function run(
  cfg: ReturnType<typeof config>,
  input: Record<string, unknown> = {},
  clock = new ManualClock(),
) {
  return certificatesCheck.run(certificatesCheck.params.parse(input), testContext({ config: cfg, clock }));
}

describe('certificates: the endpoints of a config', () => {
  it('finds every https URL once per host:port, with where each is named', () => {
    const cfg = config({
      server: { listen: '0.0.0.0:7443', tls: { cert: 'c.pem', key: 'k.pem' } },
      checklist: {
        template: 'default',
        vars: {
          objectStorageUrl: 'https://storage.example.com/bucket',
          cdnUrl: 'https://storage.example.com:443/other',
          note: 'see https://status.example.com:8443/x and http://plain.example.com/',
          journey: 'https://{{vars.host}}/',
        },
      },
      environments: { staging: { checklist: { vars: { cdnUrl: 'https://staging.example.com/' } } } },
    });
    expect(httpsEndpoints(cfg, ['https://[::1]:9443/'])).toEqual([
      {
        host: 'storage.example.com',
        port: 443,
        servername: 'storage.example.com',
        where: ['checklist.vars.objectStorageUrl', 'checklist.vars.cdnUrl'],
      },
      {
        host: 'status.example.com',
        port: 8443,
        servername: 'status.example.com',
        where: ['checklist.vars.note'],
      },
      { host: '127.0.0.1', port: 7443, servername: '127.0.0.1', where: ['server.tls'] },
      { host: '::1', port: 9443, servername: '::1', where: ['extra[0]'] },
    ]);
  });

  it('refuses an extra URL that is not https', () => {
    expect(certificatesCheck.params.safeParse({ extra: ['http://example.com/'] }).success).toBe(false);
    expect(certificatesCheck.params.parse({})).toEqual({ timeout: 10_000, extra: [] });
  });

  it('passes, saying so, when the config names no HTTPS endpoint', async () => {
    const result = await run(config({ checklist: { vars: { healthPath: '/healthz' } } }));
    expect(result).toMatchObject({ ok: true, summary: NO_ENDPOINT });
  });
});

describe('certificates against real TLS servers', () => {
  it('fails when one certificate expires within maintenance.certMinDays (21), with each endpoint as evidence', async () => {
    const soonPort = await serve(soon);
    const laterPort = await serve(later);
    const checklist = {
      vars: { a: `https://localhost:${soonPort}/healthz`, b: `https://127.0.0.1:${laterPort}/` },
    };
    const cfg = config({ checklist });
    const result = await run(cfg, {}, clockBefore(soon, 10));
    expect(result.ok).toBe(false);
    expect(result.inconclusive).toBeUndefined();
    expect(result.summary).toMatch(
      new RegExp(
        `^1 of 2 HTTPS endpoints under minDays 21: localhost:${soonPort} expires in 10 days \\(\\d{4}-\\d\\d-\\d\\d\\)$`,
      ),
    );
    expect(result.value).toBe(10);
    expect(result.data).toMatchObject({
      minDays: 21,
      endpoints: [
        {
          endpoint: `localhost:${soonPort}`,
          where: ['checklist.vars.a'],
          state: 'expiring',
          daysLeft: 10,
          subject: 'CN=localhost',
          issuer: 'CN=certificates check CA',
        },
        { endpoint: `127.0.0.1:${laterPort}`, state: 'ok', subject: 'CN=localhost' },
      ],
    });
    const relaxed = await run(
      config({ checklist, maintenance: { certMinDays: 5 } }),
      {},
      clockBefore(soon, 10),
    );
    expect(relaxed.ok, relaxed.summary).toBe(true);
    expect(relaxed.summary).toBe(
      `2 HTTPS endpoints, every certificate valid at least 5 more days; the soonest: localhost:${soonPort} expires in 10 days (${new Date(
        new crypto.X509Certificate(fs.readFileSync(soon.cert)).validTo,
      )
        .toISOString()
        .slice(0, 10)})`,
    );
    const byParam = await run(cfg, { minDays: 5 }, clockBefore(soon, 10));
    expect(byParam.ok, byParam.summary).toBe(true);
  });

  it('passes a certificate with 90 days left, including the control plane’s own HTTPS listener', async () => {
    const port = await serve(later);
    const cfg = config({
      server: { listen: `127.0.0.1:${port}`, tls: { cert: later.cert, key: later.key } },
    });
    const result = await run(cfg, {}, clockBefore(later, 90));
    expect(result).toMatchObject({ ok: true, value: 90 });
    expect(result.data).toMatchObject({
      endpoints: [{ endpoint: `127.0.0.1:${port}`, where: ['server.tls'] }],
    });
  });

  it('is inconclusive when an endpoint does not answer and none fails', async () => {
    const laterPort = await serve(later);
    const down = await freePort();
    const cfg = config({ checklist: { vars: { up: `https://localhost:${laterPort}/` } } });
    const result = await run(cfg, { extra: [`https://127.0.0.1:${down}/`] }, clockBefore(later, 90));
    expect(result).toMatchObject({
      ok: false,
      inconclusive: true,
      summary: `1 of 2 HTTPS endpoints did not answer: 127.0.0.1:${down}: connect ECONNREFUSED 127.0.0.1:${down}; the others are valid 90 days or more`,
      data: { endpoints: [{ state: 'ok' }, { state: 'unreachable', where: ['extra[0]'] }] },
    });
  });

  it('fails, not inconclusive, when one endpoint is down and another expires too soon', async () => {
    const soonPort = await serve(soon);
    const down = await freePort();
    const cfg = config({ checklist: { vars: { a: `https://localhost:${soonPort}/` } } });
    const result = await run(cfg, { extra: [`https://127.0.0.1:${down}/`] }, clockBefore(soon, 10));
    expect(result.ok).toBe(false);
    expect(result.inconclusive).toBeUndefined();
    expect(result.summary).toMatch(
      /^1 of 2 HTTPS endpoints under minDays 21: .*; 1 did not answer \(127\.0\.0\.1:\d+\)$/,
    );
  });
});
