import { describe, expect, it } from 'vitest';
import { TEST_KINDS, templateFolder } from '../../test/support/template-files.js';
import { templateShowCommand, templateValidateCommand } from '../cli/commands/checklist-template.js';
import { ConfigError } from '../errors.js';
import { configuredIn, resolveItems } from './template.js';

const { write, load } = templateFolder();

describe('resolveItems', () => {
  const TEMPLATE = `items:
  - id: a/health
    section: A
    title: Health
    kind: http
    gate: verify
    params:
      url: '{{vars.healthPath}}'
      headers: { Authorization: 'Bearer {{ vars.token }}', X-Journey: '{{name}}' }
  - id: a/env
    section: A
    title: Env
    kind: env
    gate: pre-deploy
    params: { required: [PORT, '{{vars.requiredEnv}}'] }
  - id: a/backup
    section: A
    title: Backup
    kind: backup-age
    gate: pre-deploy
    params: { maxAge: 24h }
    requires: backup
    hint: confirm last night's backup exists
  - id: a/tests
    section: A
    title: Tests
    kind: command
    gate: pre-deploy
    params: { run: '{{vars.testCommand}}' }
    requires: [migrations, checklist.vars.stagingUrl]
  - id: a/sign
    section: A
    title: Sign
    kind: manual
    gate: post-deploy
    params: { role: release-manager }
    hint: tell people
  - id: a/status
    section: A
    title: Status page
    kind: status-page
    gate: post-deploy
    params: {}
    requires: [statusPage]
`;

  it('fills in vars deeply, expands a list entry, and leaves other placeholders alone', async () => {
    await write('t.yaml', TEMPLATE);
    const items = resolveItems(await load('t.yaml'), {
      vars: {
        healthPath: '/healthz',
        token: 's3cret',
        requiredEnv: 'DATABASE_URL, SESSION_SECRET,',
        testCommand: 'npm test',
        stagingUrl: 'https://staging.example.com',
      },
      configured: (key) => key === 'backup' || key === 'migrations',
    });
    expect(items.map((item) => [item.id, item.kind, item.automated])).toEqual([
      ['a/health', 'http', true],
      ['a/env', 'env', true],
      ['a/backup', 'backup-age', true],
      ['a/tests', 'command', true],
      ['a/sign', 'manual', false],
      ['a/status', 'manual', false],
    ]);
    expect(items[0]?.params).toEqual({
      url: '/healthz',
      headers: { Authorization: 'Bearer s3cret', 'X-Journey': '{{name}}' },
    });
    expect(items[1]?.params).toEqual({ required: ['PORT', 'DATABASE_URL', 'SESSION_SECRET'] });
  });

  it('turns an automated item into a sign-off that says what would automate it', async () => {
    await write('t.yaml', TEMPLATE);
    const items = resolveItems(await load('t.yaml'), {
      vars: { token: '', testCommand: 'npm test' },
      configured: () => false,
    });
    expect(items).toHaveLength(6);
    expect(items.map((item) => [item.id, item.kind, item.automated, item.hint])).toEqual([
      ['a/health', 'manual', false, 'set checklist.vars.healthPath and checklist.vars.token to automate'],
      ['a/env', 'manual', false, 'set checklist.vars.requiredEnv to automate'],
      [
        'a/backup',
        'manual',
        false,
        `automated once "backup" is configured; confirm last night's backup exists`,
      ],
      [
        'a/tests',
        'manual',
        false,
        'automated once "migrations" is configured; set checklist.vars.stagingUrl to automate',
      ],
      ['a/sign', 'manual', false, 'tell people'],
      ['a/status', 'manual', false, 'automated once "statusPage" is configured'],
    ]);
    expect(items[2]?.params).toEqual({ hint: items[2]?.hint });
    expect(items[4]?.params).toEqual({ role: 'release-manager' });
  });

  it('refuses a filled-in value the kind does not accept, naming the item and the var', async () => {
    const file = await write('t.yaml', TEMPLATE);
    const template = await load('t.yaml');
    const error = (() => {
      try {
        resolveItems(template, { vars: { healthPath: 'healthz', token: 't' }, configured: () => false });
        return undefined;
      } catch (err) {
        return err;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      `${file}:2:5: a/health: params.url: expected an absolute http(s) URL or a path starting with /, got "healthz" (filled in from checklist.vars.healthPath)`,
    ]);
  });

  it('answers configured keys from a config object', () => {
    const configured = configuredIn({
      backup: { url: 's3://x' },
      fleet: { scaling: null },
      checklist: { vars: {} },
      channels: [],
      cdn: { purge: [{ url: 'http://x' }] },
    });
    expect(configured('channels')).toBe(false);
    expect(configured('cdn.purge')).toBe(true);
    expect(configured('backup')).toBe(true);
    expect(configured('backup.url')).toBe(true);
    expect(configured('fleet.scaling')).toBe(false);
    expect(configured('checklist.vars.x')).toBe(false);
  });
});

describe('checklist template show and validate', () => {
  const CONFIG = `service: web
fleet:
  kind: local
  command: node app.js
checklist:
  template: t.yaml
  vars: { healthPath: /healthz }
`;
  const SMALL = `items:
  - id: a/health
    section: A
    title: Health
    kind: http
    gate: verify
    params: { url: '{{vars.healthPath}}' }
  - id: b/tests
    section: B
    title: Tests
    kind: command
    gate: pre-deploy
    params: { run: '{{vars.testCommand}}' }
`;

  async function run(
    command: typeof templateShowCommand,
    opts: { template?: string; json?: boolean } = {},
  ): Promise<{ code: number; lines: string[] }> {
    const config = await write('shipcheck.yaml', CONFIG);
    const lines: string[] = [];
    const code = await command({ config, ...opts }, { out: (line) => lines.push(line) }, TEST_KINDS);
    return { code, lines };
  }

  it('shows the resolved template as a tree, with why an item is signed by hand', async () => {
    const file = await write('t.yaml', SMALL);
    expect(await run(templateShowCommand)).toEqual({
      code: 0,
      lines: [
        `t: 2 items, 1 automated, 1 signed by hand (${file})`,
        '',
        'A',
        '  [verify]     http    a/health  Health',
        '',
        'B',
        '  [pre-deploy] manual  b/tests  Tests',
        '               set checklist.vars.testCommand to automate',
      ],
    });
  });

  it('shows JSON with the resolved items and the dropped ones', async () => {
    await write('t.yaml', SMALL);
    const { lines } = await run(templateShowCommand, { json: true });
    const view = JSON.parse(lines.join('\n')) as {
      name: string;
      items: { id: string; automated: boolean }[];
    };
    expect(view.name).toBe('t');
    expect(view.items.map((item) => [item.id, item.automated])).toEqual([
      ['a/health', true],
      ['b/tests', false],
    ]);
  });

  it('validates the configured template, or one given on the command line', async () => {
    await write('t.yaml', SMALL);
    expect(await run(templateValidateCommand)).toEqual({
      code: 0,
      lines: ['t.yaml: ok (2 items, 1 automated)'],
    });
    expect((await run(templateValidateCommand, { template: 'default' })).lines[0]).toMatch(
      /^default: ok \(75 items, \d+ automated\)$/,
    );
  });
});
