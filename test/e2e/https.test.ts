import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HSTS_HEADER, HSTS_VALUE } from '../../src/api/tls.js';
import { loadConfig } from '../../src/config/loader.js';
import { type ControlPlane, startControlPlane } from '../../src/control-plane.js';
import { TestCa } from '../support/certificates.js';
import { BIN, runCli } from './harness.js';

const SAMPLE_APP = fileURLToPath(new URL('../../examples/app/server.js', import.meta.url));

const PASSWORD = 'correct horse battery staple';

/** Runs bin/shipcheck with `input` on its stdin (a password). */
function cliWithInput(
  args: string[],
  env: Record<string, string>,
  input: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(`${input}\n`);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

let ca: TestCa;
let dir: string;
let file: string;
let plane: ControlPlane;

beforeAll(async () => {
  ca = TestCa.create();
  dir = fs.mkdtempSync(path.join(ca.dir, 'install-'));
  fs.mkdirSync(path.join(dir, 'tls'));
  const server = ca.issue('api', { names: ['DNS:localhost', 'IP:127.0.0.1'] });
  fs.copyFileSync(server.cert, path.join(dir, 'tls', 'api.pem'));
  fs.copyFileSync(server.key, path.join(dir, 'tls', 'api.key'));
  fs.copyFileSync(ca.cert, path.join(dir, 'tls', 'clients.pem'));
  file = path.join(dir, 'shipcheck.yaml');
  fs.writeFileSync(
    file,
    `service: web
server:
  listen: 127.0.0.1:0
  tls: { cert: tls/api.pem, key: tls/api.key, clientCA: tls/clients.pem }
fleet:
  kind: local
  command: ["${process.execPath}", "${SAMPLE_APP}"]
  instances: 1
  stopTimeout: 3s
  health: { path: /healthz, interval: 100ms, timeout: 500ms, unhealthyAfter: 2 }
traffic: { kind: proxy, listen: 127.0.0.1:0 }
`,
  );
  // The first admin, added offline before the server starts, as an operator would.
  const added = await cliWithInput(
    ['user', 'add', 'admin', '--admin', '--offline', '--password-stdin', '-c', file],
    {},
    PASSWORD,
  );
  if (added.code !== 0) throw new Error(`user add: ${added.stderr}`);
  plane = await startControlPlane(await loadConfig(file), pino({ level: 'silent' }));
  // The CLI finds the server through the file: give it the port the control plane got.
  const port = new URL(plane.apiUrl).port;
  fs.writeFileSync(
    file,
    fs.readFileSync(file, 'utf8').replace('127.0.0.1:0\n  tls', `127.0.0.1:${port}\n  tls`),
  );
});

afterAll(async () => {
  await plane?.close({ stopInstances: true });
  ca?.remove();
});

describe('a control plane with server.tls', () => {
  it('serves its API over HTTPS, with HSTS, to a client holding a certificate of the client CA', async () => {
    // Given server.tls with a clientCA
    // When a client that trusts the CA and presents a client certificate asks for /healthz
    expect(plane.apiUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const client = ca.issue('operator', { names: ['DNS:operator'], use: 'client' });
    const answer = await new Promise<{ status: number; hsts: unknown }>((resolve, reject) => {
      https
        .get(
          `${plane.apiUrl}/healthz`,
          {
            ca: fs.readFileSync(ca.cert),
            cert: fs.readFileSync(client.cert),
            key: fs.readFileSync(client.key),
          },
          (response) => {
            response.resume();
            resolve({ status: response.statusCode ?? 0, hsts: response.headers[HSTS_HEADER] });
          },
        )
        .on('error', reject);
    });
    // Then it answers, with HSTS
    expect(answer).toEqual({ status: 200, hsts: HSTS_VALUE });
  });

  it('lets the CLI in with NODE_EXTRA_CA_CERTS and SHIPCHECK_CLIENT_CERT/KEY, and says why it cannot without', async () => {
    const client = ca.issue('cli', { names: ['DNS:cli'], use: 'client' });
    const trust = { NODE_EXTRA_CA_CERTS: ca.cert };
    const identity = { SHIPCHECK_CLIENT_CERT: client.cert, SHIPCHECK_CLIENT_KEY: client.key };

    // A token, made over the same TLS with the password: the way a person gets one.
    const made = await cliWithInput(
      ['token', 'create', '--name', 'cli', '--login', 'admin', '--password-stdin', '-c', file],
      { ...trust, ...identity },
      PASSWORD,
    );
    expect(made.stderr).toMatch(/shown once/);
    const token = { SHIPCHECK_TOKEN: made.stdout.trim() };
    // The URL comes from server.listen and server.tls in the file
    const admitted = await runCli(['status', '-c', file], { env: { ...trust, ...identity, ...token } });
    expect(admitted.stderr).toBe('');
    expect(admitted.code).toBe(0);
    expect(admitted.stdout).toContain('web');

    const anonymous = await runCli(['status', '-c', file], { env: trust });
    expect(anonymous.code).not.toBe(0);
    // fetch only sees the server hang up once it has refused the handshake.
    expect(anonymous.stderr).toMatch(
      /cannot reach shipcheck at https:\/\/127\.0\.0\.1:\d+ \(UND_ERR_SOCKET\)/,
    );

    const distrustful = await runCli(['status', '-c', file], { env: identity });
    expect(distrustful.code).not.toBe(0);
    // The server sends the client CA with its certificate (OpenSSL completes the chain from it).
    expect(distrustful.stderr).toContain('(SELF_SIGNED_CERT_IN_CHAIN)');

    const halfway = await runCli(['status', '-c', file], {
      env: { ...trust, SHIPCHECK_CLIENT_CERT: client.cert },
    });
    expect(halfway.code).toBe(2);
    expect(halfway.stderr).toContain(
      'SHIPCHECK_CLIENT_KEY is not set: a client certificate needs both SHIPCHECK_CLIENT_CERT and SHIPCHECK_CLIENT_KEY',
    );
  });
});
