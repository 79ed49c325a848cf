import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateCommand } from '../cli/commands/validate.js';
import { ConfigError } from '../errors.js';
import { loadInstallation } from './installation.js';

let dir: string;
let file: string;
let cwd: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shipcheck-installation-'));
  file = path.join(dir, 'shipcheck.yaml');
  await mkdir(path.join(dir, 'services'));
  // Listed files are named relative to the working folder, as a compiler names them.
  cwd = process.cwd();
  process.chdir(dir);
});

afterEach(async () => {
  process.chdir(cwd);
  await rm(dir, { recursive: true, force: true });
});

/** A service file for `name` with its proxy on `listen`. */
function service(name: string, listen: string, extra = ''): string {
  return `service: ${name}\nfleet:\n  kind: local\n  command: node app.js\ntraffic: { kind: proxy, listen: "${listen}" }\n${extra}`;
}

async function write(relative: string, text: string): Promise<void> {
  await writeFile(path.join(dir, relative), text);
}

async function problemsOf(): Promise<string[]> {
  const error = await loadInstallation('shipcheck.yaml').then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(error)}`);
  return error.problems;
}

describe('loadInstallation', () => {
  it("says where a service's communication policy names a channel or an escalation policy that does not exist", async () => {
    await mkdir(path.join(dir, 'services'), { recursive: true });
    await write(
      'shipcheck.yaml',
      'services: [services/*.yaml]\nchannels: [{ name: chat, type: slack, url: "https://hooks.example.com/x" }]\n',
    );
    const policy =
      'communication:\n  notify: { rolledBack: [chat, pager] }\n  incident: { escalationPolicy: web }\n';
    await write('services/web.yaml', service('web', '127.0.0.1:18101', policy));
    expect(await problemsOf()).toEqual([
      'services/web.yaml:7:32: communication.notify.rolledBack[1]: no channel is named "pager"; the channels are "chat"',
      'services/web.yaml:8:15: communication.incident.escalationPolicy: no escalation policy is named "web"; define it under oncall.escalationPolicies:',
    ]);
  });

  it("says where a service's maintenance.notify names a channel that does not exist", async () => {
    await write(
      'shipcheck.yaml',
      'services: [services/*.yaml]\nchannels: [{ name: chat, type: slack, url: "https://hooks.example.com/x" }]\n',
    );
    const maintenance = 'maintenance:\n  notify: [{ channel: chat }, { channel: pager }]\n';
    await write('services/web.yaml', service('web', '127.0.0.1:18101', maintenance));
    expect(await problemsOf()).toEqual([
      'services/web.yaml:7:33: maintenance.notify[1]: no channel is named "pager"; the channels are "chat"',
    ]);
  });

  it('loads every service a glob lists, sorted by name, with the store and server of the control-plane file', async () => {
    await write(
      'shipcheck.yaml',
      'server: { listen: 127.0.0.1:7171 }\nstore: sqlite:state/db.sqlite\nservices:\n  - services/*.yaml\n',
    );
    await write('services/web.yaml', service('web', '127.0.0.1:8081'));
    await write('services/api.yaml', service('api', '127.0.0.1:8082'));
    await write('services/notes.txt', 'not a service');
    const installation = await loadInstallation(file);
    expect(installation.form).toBe('control-plane');
    expect(installation.services.map((s) => s.config.service)).toEqual(['api', 'web']);
    expect(installation.store).toBe(`sqlite:${path.join(dir, 'state', 'db.sqlite')}`);
    for (const loaded of installation.services) {
      expect(loaded.config.server.listen).toBe('127.0.0.1:7171');
      expect(loaded.dir).toBe(path.join(dir, 'services'));
    }
  });

  it('reads the store retention of the control-plane file, and says where it is wrong', async () => {
    await write(
      'shipcheck.yaml',
      'store:\n  url: sqlite:state.db\n  retention: { releases: 90d, interval: 10m }\nservices: [services/*.yaml]\n',
    );
    await write('services/web.yaml', service('web', '127.0.0.1:8081'));
    const installation = await loadInstallation(file);
    expect(installation.store).toBe(`sqlite:${path.join(dir, 'state.db')}`);
    expect(installation.retention).toMatchObject({
      releases: 90 * 86_400_000,
      interval: 600_000,
      batchSize: 500,
    });
    await write(
      'shipcheck.yaml',
      'store:\n  url: sqlite:state.db\n  retention: { batchSize: lots }\nservices: [services/*.yaml]\n',
    );
    expect(await problemsOf()).toEqual([
      'shipcheck.yaml:3:27: store.retention.batchSize: expected a number, got string "lots"',
    ]);
  });

  it('still runs a lone service file as an installation of one', async () => {
    await write('shipcheck.yaml', service('web', '127.0.0.1:8081'));
    const installation = await loadInstallation(file);
    expect(installation.form).toBe('service');
    expect(installation.services.map((s) => s.config.service)).toEqual(['web']);
    expect(installation.store).toBe(`sqlite:${path.join(dir, '.shipcheck', 'state.db')}`);
  });

  it('names both places when two files define one service', async () => {
    await write('shipcheck.yaml', 'services: [services/a.yaml, services/b.yaml]\n');
    await write('services/a.yaml', service('web', '127.0.0.1:8081'));
    await write('services/b.yaml', service('web', '127.0.0.1:8082'));
    expect(await problemsOf()).toEqual([
      'services/b.yaml:1:1: service "web" is also defined at services/a.yaml:1:1; give each service its own name',
    ]);
  });

  it('names both places when two services put their proxy on one address, a default included', async () => {
    await write('shipcheck.yaml', 'services: [services/*.yaml]\n');
    await write('services/a.yaml', service('api', '127.0.0.1:8081'));
    await write('services/b.yaml', service('web', '0.0.0.0:8081'));
    await write('services/c.yaml', 'service: jobs\nfleet:\n  kind: local\n  command: node app.js\n');
    await write('services/d.yaml', 'service: mail\nfleet:\n  kind: local\n  command: node app.js\n');
    expect(await problemsOf()).toEqual([
      'services/b.yaml:5:25: traffic.listen 0.0.0.0:8081 of web is also the proxy address of api at services/a.yaml:5:25; give each its own',
      'services/d.yaml:1:1: traffic.listen 127.0.0.1:8080 (the default) of mail is also the proxy address of jobs at services/c.yaml:1:1; give each its own',
    ]);
  });

  it('lets any number of proxies ask the OS for a port', async () => {
    await write('shipcheck.yaml', 'services: [services/*.yaml]\n');
    await write('services/a.yaml', service('api', '127.0.0.1:0'));
    await write('services/b.yaml', service('web', '127.0.0.1:0'));
    expect((await loadInstallation(file)).services).toHaveLength(2);
  });

  it('names both places when two units write one nginx upstream file', async () => {
    const nginx = (name: string): string =>
      `service: ${name}\nfleet:\n  kind: local\n  command: node app.js\ntraffic:\n  kind: nginx\n  upstream: ${name}\n  upstreamFile: ../upstreams.conf\n  nginxConfig: /etc/nginx/nginx.conf\nmetrics: { kind: nginx-log, accessLog: /var/log/nginx/access.log }\n`;
    await write('shipcheck.yaml', 'services: [services/*.yaml]\n');
    await write('services/a.yaml', nginx('api'));
    await write('services/b.yaml', nginx('web'));
    expect(await problemsOf()).toEqual([
      `services/b.yaml:8:3: traffic.upstreamFile ${path.join(dir, 'upstreams.conf')} of web is also written for api at services/a.yaml:8:3; give each its own file`,
    ]);
  });

  it('checks environments of one file the same way', async () => {
    await write(
      'shipcheck.yaml',
      `${service('web', '127.0.0.1:8081')}environments:\n  staging: {}\n  production: { traffic: { kind: proxy, listen: "127.0.0.1:8081" } }\n`,
    );
    expect(await problemsOf()).toEqual([
      'shipcheck.yaml:8:41: traffic.listen 127.0.0.1:8081 of web@production is also the proxy address of web@staging at shipcheck.yaml:5:25; give each its own',
    ]);
  });

  it('keeps server and store in the control-plane file', async () => {
    await write('shipcheck.yaml', 'services: [services/web.yaml]\n');
    await write('services/web.yaml', `${service('web', '127.0.0.1:8081')}store: sqlite:other.db\n`);
    expect(await problemsOf()).toEqual([
      'services/web.yaml:6:1: "store" belongs to the whole installation: set it in shipcheck.yaml, not in a service file',
    ]);
  });

  it('says where a key of a service belongs, and what a pattern that matches nothing is', async () => {
    await write('shipcheck.yaml', 'services: [services/*.yml, services/gone.yaml]\nfleet: { kind: local }\n');
    expect(await problemsOf()).toEqual([
      'shipcheck.yaml:2:1: "fleet" belongs in a service file; a control-plane file holds store, server, channels, oncall, statusPage, services',
    ]);
    await write('shipcheck.yaml', 'services: [services/*.yml, services/gone.yaml]\n');
    expect(await problemsOf()).toEqual([
      'shipcheck.yaml:1:12: services[0]: services/*.yml matches no file',
      'shipcheck.yaml:1:28: services[1]: services/gone.yaml does not exist',
    ]);
  });

  it('refuses a list that names no service file, names itself, or names another control-plane file', async () => {
    await write('services/web.yaml', service('web', '127.0.0.1:8081'));
    await write('shipcheck.yaml', 'services: [shipcheck.yaml, 3]\n');
    expect(await problemsOf()).toEqual([
      'shipcheck.yaml:1:28: services[1]: expected a path or a glob such as services/*.yaml, got number 3',
    ]);
    await write('shipcheck.yaml', 'services: [shipcheck.yaml]\n');
    expect(await problemsOf()).toEqual([
      'shipcheck.yaml:1:12: services[0]: shipcheck.yaml is this file; list service files',
    ]);
    // A glob may match the control-plane file itself; it is skipped, and then nothing is left.
    await write('shipcheck.yaml', 'services: ["*.yaml"]\n');
    expect(await problemsOf()).toEqual(['shipcheck.yaml:1:11: services: the list names no service file']);
    await write('services/all.yaml', 'services: [web.yaml]\n');
    await write('shipcheck.yaml', 'services: [services/*.yaml]\n');
    expect(await problemsOf()).toEqual([
      'shipcheck.yaml:1:12: services[0]: services/all.yaml lists services itself; list service files, which hold "service:"',
    ]);
  });

  it('reports the problems of every service file at once', async () => {
    await write('shipcheck.yaml', 'services: [services/*.yaml]\n');
    await write('services/a.yaml', `${service('api', '127.0.0.1:8081')}bogus: 1\n`);
    await write('services/b.yaml', `${service('web', '127.0.0.1:8082')}strategy: 3\n`);
    const problems = await problemsOf();
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^services\/a\.yaml:6:1: unknown key "bogus"/);
    expect(problems[1]).toMatch(/^services\/b\.yaml:6:11: strategy: /);
  });

  it('validate prints a line per service and one for the installation', async () => {
    await write('shipcheck.yaml', 'services: [services/*.yaml]\n');
    await write('services/a.yaml', service('api', '127.0.0.1:8081'));
    await write('services/b.yaml', service('web', '127.0.0.1:8082'));
    const lines: string[] = [];
    // `node` is found in PATH, and app.js is the shell's business: the commands pass.
    await validateCommand({ config: 'shipcheck.yaml' }, { out: (line) => lines.push(line) });
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^services\/a\.yaml: ok \(service api, /);
    expect(lines[1]).toMatch(/^services\/b\.yaml: ok \(service web, /);
    expect(lines[2]).toBe('shipcheck.yaml: ok (2 services)');
  });
});
