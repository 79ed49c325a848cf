import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { loadInstallation } from './installation.js';
import { statusPageSchema } from './status-page-schema.js';

function messages(input: unknown): string[] {
  const parsed = statusPageSchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('the statusPage key', () => {
  it('takes a page with defaults filled in', () => {
    expect(
      statusPageSchema.parse({
        name: 'Status',
        components: [{ name: 'API', services: ['web', 'web@production'] }],
      }),
    ).toEqual({
      name: 'Status',
      timeZone: 'Etc/UTC',
      components: [
        { name: 'API', services: ['web', 'web@production'], onlyShowIfDegraded: false, showcase: true },
      ],
    });
    expect(statusPageSchema.parse(undefined)).toBeUndefined();
  });

  it('says what is wrong in words', () => {
    expect(messages({ name: '', components: [] })).toEqual([
      'name: give the page a name, e.g. Example status',
      'components: list at least one component, e.g. [{ name: API, services: [web] }]',
    ]);
    expect(
      messages({
        name: 'S',
        url: 'not a url',
        timeZone: 'Mars/Olympus',
        components: [
          { name: 'API', services: [] },
          { name: 'api', services: ['Web Server'] },
        ],
      }),
    ).toEqual([
      'url: expected the public URL of the page, e.g. https://status.example.com',
      'timeZone: expected an IANA time zone such as Etc/UTC or Europe/Paris',
      'components.0.services: list the services this component shows, e.g. [web] or [web@production]',
      'components.1.services.0: expected a service name such as web, or web@production for one environment',
      'components.1.name: component "api" is also component 1; give each its own name',
    ]);
    expect(
      messages({
        name: 'S',
        components: [
          { name: 'API', services: ['web'] },
          { name: 'api', services: ['web'] },
        ],
      }),
    ).toEqual(['components.1.name: component "api" is also component 1; give each its own name']);
  });
});

describe('the statusPage of an installation', () => {
  let dir: string;
  let cwd: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'shipcheck-status-page-'));
    await mkdir(path.join(dir, 'services'));
    cwd = process.cwd();
    process.chdir(dir);
  });
  afterEach(async () => {
    process.chdir(cwd);
    await rm(dir, { recursive: true, force: true });
  });

  const service = (name: string, port: number, extra = ''): string =>
    `service: ${name}\nfleet:\n  kind: local\n  command: node app.js\ntraffic: { kind: proxy, listen: "127.0.0.1:${port}" }\n${extra}`;

  it('names the services a component maps that the installation does not run', async () => {
    await writeFile(
      path.join(dir, 'shipcheck.yaml'),
      [
        'services: [services/*.yaml]',
        'statusPage:',
        '  name: Example status',
        '  components:',
        '    - { name: API, services: [web, web@production, api] }',
        '    - { name: Admin, services: [admin@staging] }',
      ].join('\n'),
    );
    await writeFile(
      path.join(dir, 'services', 'web.yaml'),
      service('web', 0, 'environments:\n  production: {}\n'),
    );
    await writeFile(path.join(dir, 'services', 'admin.yaml'), service('admin', 0));
    const error = await loadInstallation('shipcheck.yaml').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'shipcheck.yaml: statusPage.components[0] (API) names "api", which this installation does not run; it runs "admin", "web@production"',
      'shipcheck.yaml: statusPage.components[1] (Admin) names "admin@staging", which this installation does not run; it runs "admin", "web@production"',
    ]);
  });
});
