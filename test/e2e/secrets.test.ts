/**
 * A known secret planted in every place a secret can go in config (checklist vars reaching a
 * command and its output, a webhook's header, the Alertmanager token), a release run through, and
 * then the state database, the logs, every API answer, the event stream and the backups searched
 * for it. It must be used where it is needed and shown nowhere.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/util/net.js';
import { Scenario, waitFor } from './harness.js';

const SECRET = `pl4nted-${crypto.randomBytes(12).toString('hex')}`;
const ENV = 'SHIPCHECK_TEST_PLANTED_SECRET';

const TEMPLATE = `name: secrets
items:
  - id: pre-deployment/testing/smoke
    section: Pre-Deployment / Testing
    title: Smoke test with the API token
    kind: command
    gate: pre-deploy
    params: { run: "echo calling with token={{vars.apiToken}}; echo done", timeout: 10s }
`;

let s: Scenario;
let hook: http.Server;
const received: string[] = [];

beforeAll(async () => {
  process.env[ENV] = SECRET;
  const hookPort = await freePort();
  hook = http.createServer((req, res) => {
    received.push(String(req.headers['x-api-key'] ?? ''));
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => hook.listen(hookPort, '127.0.0.1', resolve));
  s = await Scenario.create({
    steps: '[{setWeight: 50}, {pause: 1s}]',
    rollbackExtra: `  alerts: { token: { secret: { env: ${ENV} } } }`,
    extra:
      `checklist:\n  template: checklist.yaml\n  vars: { apiToken: { secret: { env: ${ENV} } } }\n` +
      `notifications:\n  webhooks:\n    - url: http://127.0.0.1:${hookPort}/hook\n` +
      `      events: ['release.*']\n      headers: { x-api-key: { secret: { env: ${ENV} } } }\n` +
      `backup: { database: "sqlite:app.db", dir: backups }\n`,
  });
  fs.writeFileSync(path.join(s.dir, 'checklist.yaml'), TEMPLATE);
  await s.up();
});

afterAll(async () => {
  await s?.down();
  await new Promise<void>((resolve) => hook.close(() => resolve()));
  delete process.env[ENV];
});

/** Every regular file under `dir`, recursively (not the proxy's control socket). */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(full);
    return entry.isFile() ? [full] : [];
  });
}

describe('a secret planted everywhere a secret can go', () => {
  it('is used where it is needed and shows as *** everywhere else', async () => {
    // A backup of the app's database, so the backups are searched too.
    fs.writeFileSync(path.join(s.dir, 'app.db'), '');
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    const deployed = await s.cli('deploy', 'v2', '--wait');
    expect(deployed.code, deployed.stderr).toBe(0);
    await waitFor('the webhook deliveries', async () => received.length >= 2);
    const backup = await s.cli('backup');
    expect(backup.code, backup.stderr).toBe(0);

    // Used: the webhook got the real value, the command ran with it.
    expect(received.every((value) => value === SECRET)).toBe(true);

    const answers: string[] = [];
    const read = async (route: string): Promise<unknown> => {
      const res = await s.api(route);
      const text = await res.text();
      expect(res.status, `${route}: ${text}`).toBe(200);
      answers.push(text);
      return JSON.parse(text) as unknown;
    };
    await read('/api/v1/services');
    await read('/api/v1/services/web');
    const { releases } = (await read('/api/v1/services/web/releases')) as { releases: { id: number }[] };
    for (const { id } of releases) {
      await read(`/api/v1/releases/${id}`);
      await read(`/api/v1/releases/${id}/events`);
      await read(`/api/v1/releases/${id}/effects`);
      await read(`/api/v1/releases/${id}/measurements`);
      const checklist = (await read(`/api/v1/releases/${id}/checklist`)) as {
        items: {
          id: string;
          params: Record<string, unknown>;
          evidence: { output?: string; summary: string }[];
        }[];
      };
      const smoke = checklist.items.find((i) => i.id === 'pre-deployment/testing/smoke')!;
      expect(JSON.stringify(smoke.evidence)).toContain('token=***');
      expect(smoke.params.run).toBe('echo calling with token=***; echo done');
      expect(smoke.params).not.toHaveProperty('$sealed');
    }
    await read('/api/v1/audit?limit=1000');
    const metrics = await s.api('/metrics');
    answers.push(await metrics.text());
    // The event stream replays the newest events.
    const controller = new AbortController();
    const stream = await s.api('/api/v1/events', { signal: controller.signal });
    const reader = stream.body!.getReader();
    let streamed = '';
    while (!streamed.includes('release.succeeded')) {
      const { value, done } = await reader.read();
      if (done) break;
      streamed += Buffer.from(value).toString('utf8');
    }
    controller.abort();
    answers.push(streamed);

    for (const [i, text] of answers.entries()) expect(text.includes(SECRET), `answer ${i}`).toBe(false);
    expect(s.log.includes(SECRET), 'the server log').toBe(false);
    expect(s.log.length).toBeGreaterThan(0);

    const stateFiles = filesUnder(path.join(s.dir, '.shipcheck'));
    expect(stateFiles.some((f) => f.endsWith('state.db'))).toBe(true);
    const searched = [...stateFiles, ...filesUnder(path.join(s.dir, 'backups'))];
    expect(searched.some((f) => f.includes(`${path.sep}backups${path.sep}`))).toBe(true);
    for (const file of searched) {
      expect(fs.readFileSync(file).includes(Buffer.from(SECRET)), file).toBe(false);
    }
    // The state and the backups are the owner's only.
    for (const file of searched.filter((f) => /state\.db(-wal)?$|backups/.test(f)))
      expect((fs.statSync(file).mode & 0o777).toString(8), file).toBe('600');
  });
});
