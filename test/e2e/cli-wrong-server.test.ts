import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startApp } from '../support/test-apps.js';
import { runCli } from './harness.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-wrong-server-'));
/** A folder without a shipcheck.yaml: the CLI asks the server which service it runs. */
const bare = path.join(dir, 'bare');
fs.mkdirSync(bare);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A config naming the service, so commands go straight to its routes. */
function writeConfig(): string {
  const file = path.join(dir, 'shipcheck.yaml');
  fs.writeFileSync(path.join(dir, 'app.js'), '');
  fs.writeFileSync(file, 'service: web\nfleet: { kind: local, command: ["node", "app.js"] }\n');
  return file;
}

/** What users' apps answer on any path: a page, or JSON of their own. */
const APPS = {
  'an HTML page': {
    type: 'text/html; charset=utf-8',
    body: '<!doctype html><html><head><title>Shop</title></head><body>Welcome</body></html>',
  },
  'JSON of its own': { type: 'application/json', body: '{"version":"v1","instance":"0","items":[1,2]}' },
} as const;

const COMMANDS = [['deploy', 'v1'], ['abort'], ['status'], ['checklist'], ['sign', '--gate']];

describe('the CLI pointed at a server that is not shipcheck', () => {
  for (const [what, answer] of Object.entries(APPS)) {
    it(`says so, with exit code 1, when it answers ${what} with 200`, async () => {
      // Given the user's app, answering 200 on every path and method
      const url = await startApp((_req, res) => {
        res.writeHead(200, { 'content-type': answer.type });
        res.end(answer.body);
      });
      const config = writeConfig();

      for (const args of COMMANDS) {
        // When a command is pointed at it, with a config and without one
        for (const where of [['-c', config], []]) {
          const result = await runCli([...args, '--url', url, ...where], { cwd: where.length ? dir : bare });

          // Then it names the address as not shipcheck's, quotes what answered, and exits 1
          const label = `${args.join(' ')} ${where.join(' ')}`;
          expect(result.code, `${label}: ${result.stderr}`).toBe(1);
          expect(result.stderr, label).toMatch(
            new RegExp(`^error: ${url} is not a shipcheck API \\((GET|POST) /api/v1/\\S+ answered HTTP 200 `),
          );
          expect(result.stderr, label).toContain(answer.body.slice(0, 20).replace(/"/g, '\\"'));
          expect(result.stdout, label).not.toMatch(/undefined/);
          expect(result.stderr, label).not.toMatch(/\n\s+at /);
        }
      }
    });
  }

  it('says so when it answers an error without shipcheck\'s {"error": ...}', async () => {
    const url = await startApp((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    });
    const result = await runCli(['status', '--url', url], { cwd: bare });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: ${url} is not a shipcheck API (GET /api/v1/services answered HTTP 404 text/plain: "not found")\n`,
    );
  });
});
