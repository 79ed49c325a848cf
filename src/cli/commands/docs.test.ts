import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../main.js';

/** Runs the CLI in this process; no server runs, as `shipcheck docs` needs none. */
async function cli(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'shipcheck', ...args], {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    isTTY: false,
  });
  return { code, out, err };
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-docs-cli-'));
  fs.mkdirSync(path.join(dir, 'services'));
  fs.writeFileSync(path.join(dir, 'shipcheck.yaml'), 'store: sqlite:state.db\nservices: [services/*.yaml]\n');
  fs.writeFileSync(
    path.join(dir, 'services', 'api.yaml'),
    'service: api\nfleet: { kind: local, command: "true" }\ntraffic: { kind: proxy, listen: "127.0.0.1:8081" }\n',
  );
  fs.writeFileSync(
    path.join(dir, 'services', 'web.yaml'),
    `service: web
fleet: { kind: local, command: "true" }
catalog:
  dependencies: [{ name: api, kind: service }, { name: orders-db, kind: database }]
  dataFlows: [{ from: web, to: api, data: carts }]
`,
  );
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('shipcheck docs', () => {
  it('writes the whole installation beside the control-plane file, the same bytes twice', async () => {
    const config = path.join(dir, 'shipcheck.yaml');
    const first = await cli('-c', config, 'docs');
    expect(first.code).toBe(0);
    const out = path.join(dir, 'docs', 'catalog');
    expect(first.out.at(-1)).toMatch(
      new RegExp(
        `^wrote 7 files to ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(2 services, 1 with a catalog; catalog [0-9a-f]{16}\\)$`,
      ),
    );
    const svg = fs.readFileSync(path.join(out, 'dependencies.svg'), 'utf8');
    expect(svg).toContain('>orders-db</text>');
    expect(fs.readFileSync(path.join(out, 'services', 'api.md'), 'utf8')).toContain(
      'no `catalog:` block yet',
    );
    expect((await cli('-c', config, 'docs')).code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'dependencies.svg'), 'utf8')).toBe(svg);

    const elsewhere = path.join(dir, 'out');
    const json = await cli('-c', config, '--json', 'docs', '--out', elsewhere);
    expect(JSON.parse(json.out.join('\n')) as { dir: string; files: string[] }).toMatchObject({
      dir: elsewhere,
      files: expect.arrayContaining([path.join(elsewhere, 'index.md')]) as unknown,
    });
  });

  it('refuses a bad catalog with file:line:col and exit 2, writing nothing', async () => {
    fs.appendFileSync(path.join(dir, 'services', 'web.yaml'), '  runbooks: [{ title: Restart }]\n');
    const result = await cli('-c', path.join(dir, 'shipcheck.yaml'), 'docs');
    expect(result.code).toBe(2);
    expect(result.err.join('\n')).toMatch(
      /services\/web\.yaml:6:14: catalog\.runbooks\[0\]: give the runbook a file or a url/,
    );
    expect(fs.existsSync(path.join(dir, 'docs'))).toBe(false);
  });
});
