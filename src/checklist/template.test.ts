import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { templateShowCommand, templateValidateCommand } from '../cli/commands/checklist-template.js';
import { ConfigError } from '../errors.js';
import {
  PLANNED_KIND_NAMES,
  configuredIn,
  loadTemplate,
  placeholderNames,
  resolveItems,
  type KindParamsMap,
  type Template,
} from './template.js';
import { GATES } from '../domain/checklist.js';
import { checkKinds } from './kinds/index.js';

/**
 * The seed checklist, verbatim. The repository does not hold the seed itself, so the copy lives here;
 * the first test checks it against the shared seed whenever that file is next to the repository.
 */
const SEED = `# Production Deployment Checklist

## Pre-Deployment

### Infrastructure
- [ ] Verify cloud provider quotas and limits
- [ ] Ensure all required services are provisioned
  - [ ] Compute instances
  - [ ] Database
  - [ ] Cache
  - [ ] Object storage
  - [ ] CDN
- [ ] Verify backup and disaster recovery procedures
- [ ] Confirm monitoring and alerting are configured

### Application
- [ ] Update environment variables
- [ ] Run database migrations
- [ ] Invalidate CDN caches if needed
- [ ] Prepare rollback plan

### Testing
- [ ] Run full test suite
- [ ] Test database migrations on staging
- [ ] Verify backup restoration process

## Deployment

### Process
1. **Start deployment during low-traffic period**
2. **Deploy to canary environment** (if applicable)
   - [ ] Monitor for errors
   - [ ] Verify functionality
3. **Gradual rollout**
   - [ ] Deploy to 10% of instances
   - [ ] Monitor metrics
   - [ ] Increase to 50%
   - [ ] Full deployment

### Verification
- [ ] Check application health endpoints
- [ ] Verify all services are running
- [ ] Test critical user journeys
- [ ] Monitor error rates and performance

## Post-Deployment

### Monitoring
- [ ] Check application logs
- [ ] Monitor error rates
- [ ] Verify metrics collection
- [ ] Check alerting channels

### Communication
- [ ] Update status page
- [ ] Notify stakeholders
- [ ] Update documentation

## Rollback Plan

### Automated Rollback Triggers
- 5xx errors > 5% for 5 minutes
- Latency > 2s p99
- Failed health checks

### Manual Rollback Steps
1. Revert to previous container image
2. Rollback database migrations if needed
3. Clear CDN caches
4. Verify rollback success

## Maintenance

### Regular Checks
- [ ] Backup verification
- [ ] Security patches
- [ ] Dependency updates
- [ ] Certificate renewal

### Scale Up/Down
- [ ] Monitor autoscaling metrics
- [ ] Adjust resource allocations
- [ ] Update capacity planning

## Incident Response

### On-Call Rotation
- [ ] Primary on-call assigned
- [ ] Secondary on-call notified
- [ ] Escalation paths defined

### Communication Channels
- [ ] Status page updates
- [ ] Internal notifications
- [ ] Customer communications

## Security

### Access Control
- [ ] Principle of least privilege
- [ ] Multi-factor authentication
- [ ] Audit logs enabled

### Data Protection
- [ ] Encryption at rest
- [ ] Encryption in transit
- [ ] Key rotation schedule

## Performance

### Baseline Metrics
- [ ] Response times
- [ ] Throughput
- [ ] Error rates
- [ ] Resource utilization

### Optimization
- [ ] Query optimization
- [ ] Caching strategy
- [ ] CDN configuration

## Documentation

### System Architecture
- [ ] Updated diagrams
- [ ] Service dependencies
- [ ] Data flow documentation

### Runbooks
- [ ] Common procedures
- [ ] Troubleshooting guides
- [ ] Contact information
`;
const SHARED_SEED = fileURLToPath(
  new URL('../../../shared/seed/production-deployment-checklist.md', import.meta.url),
);

/** The check kinds registry, with a few kinds' schemas replaced by small ones the tests below read. */
const TEST_KINDS: KindParamsMap = new Map<string, { params: z.ZodType }>([
  ...checkKinds(),
  ['manual', { params: z.strictObject({ role: z.string().optional(), hint: z.string().optional() }) }],
  [
    'http',
    {
      params: z.strictObject({
        url: z
          .string()
          .refine(
            (url) => url.startsWith('/') || /^https?:\/\//.test(url),
            'expected an absolute http(s) URL or a path starting with /',
          ),
        target: z.enum(['canary', 'stable']).optional(),
        expectStatus: z.union([z.number().int(), z.array(z.number().int())]).optional(),
        headers: z.record(z.string(), z.string()).optional(),
      }),
    },
  ],
  ['command', { params: z.strictObject({ run: z.string().min(1), timeout: z.string().optional() }) }],
  [
    'env',
    {
      params: z.strictObject({
        required: z.array(z.string().regex(/^[A-Za-z_]\w*$/, 'expected an environment variable name')),
      }),
    },
  ],
  ['backup-age', { params: z.strictObject({ maxAge: z.string() }) }],
]);

/** One line of the seed as the template should carry it. */
interface SeedLine {
  section: string;
  title: string;
}

/**
 * Every line of the seed that asks for something: `- [ ]` lines at any depth, numbered steps and
 * plain `- ` lines (the rollback triggers), under `## Section / ### Subsection`, without `**`.
 */
function seedLines(markdown: string): SeedLine[] {
  const lines: SeedLine[] = [];
  let h2 = '';
  let h3 = '';
  for (const raw of markdown.split('\n')) {
    const heading = /^(#{2,3}) (.+)$/.exec(raw);
    if (heading) {
      if (heading[1] === '##') h2 = heading[2] ?? '';
      else h3 = heading[2] ?? '';
      continue;
    }
    const line = /^\s*(?:- \[ \] |- |\d+\. )(.+)$/.exec(raw);
    if (line && h2 && h3)
      lines.push({ section: `${h2} / ${h3}`, title: (line[1] ?? '').replaceAll('**', '') });
  }
  return lines;
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shipcheck-template-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

/** The problems loading `ref` reports. */
async function problemsOf(ref: string, kinds: KindParamsMap = TEST_KINDS): Promise<string[]> {
  const error = await loadTemplate(ref, { configDir: dir, kinds }).then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(error)}`);
  return error.problems;
}

async function load(ref: string, kinds: KindParamsMap = TEST_KINDS): Promise<Template> {
  return loadTemplate(ref, { configDir: dir, kinds });
}

const BASE = `name: base
items:
  - id: a/one
    section: A
    title: One
    kind: manual
    gate: pre-deploy
  - id: a/two
    section: A
    title: Two
    kind: http
    gate: verify
    params: { url: /healthz }
  - id: b/three
    section: B
    title: Three
    kind: command
    gate: post-deploy
    params: { run: npm test }
`;

describe('the default template', () => {
  it('uses a copy of the seed that matches the shared seed', async (context) => {
    if (!existsSync(SHARED_SEED)) {
      context.skip(`the shared seed is not at ${SHARED_SEED}, so the copy in this test cannot be compared`);
    }
    expect(SEED).toBe(await readFile(SHARED_SEED, 'utf8'));
  });

  it('has exactly the seed lines, in order, with their sections and words', async () => {
    const template = await load('default');
    const expected = seedLines(SEED);
    expect(expected).toHaveLength(75);
    expect(template.items.map(({ section, title }) => ({ section, title }))).toEqual(expected);
    expect(template.name).toBe('default');
    expect(template.dropped).toEqual([]);
  });

  it('names every item by the slugs of its section and title, once', async () => {
    const { items } = await load('default');
    for (const item of items) {
      expect(item.id).toBe(`${item.section.split(' / ').map(slug).join('/')}/${slug(item.title)}`);
    }
    expect(new Set(items.map((item) => item.id)).size).toBe(items.length);
    // Extension files and the docs refer to these; they must not change.
    const ids = items.map((item) => item.id);
    expect(ids).toContain('pre-deployment/infrastructure/compute-instances');
    expect(ids).toContain('pre-deployment/testing/run-full-test-suite');
    expect(ids).toContain('deployment/process/deploy-to-canary-environment-if-applicable');
    expect(ids).toContain('rollback-plan/automated-rollback-triggers/5xx-errors-5-for-5-minutes');
    expect(ids).toContain('maintenance/scale-up-down/monitor-autoscaling-metrics');
  });

  it('binds only maintenance, incident, security, performance and documentation items to the schedule', async () => {
    const { items } = await load('default');
    const scheduledSections = [
      'Maintenance',
      'Incident Response',
      'Security',
      'Performance',
      'Documentation',
    ];
    for (const item of items) {
      const top = item.section.split(' / ')[0] ?? '';
      expect(GATES).toContain(item.gate);
      expect(checkKinds().has(item.kind) || PLANNED_KIND_NAMES.includes(item.kind), item.kind).toBe(true);
      expect(item.gate === 'scheduled', `${item.id} at ${item.gate}`).toBe(scheduledSections.includes(top));
    }
  });

  it("passes the real check kinds' params, and resolves with every var set and every key configured", async () => {
    const { checkKinds } = await import('./kinds/index.js');
    const template = await load('default', checkKinds());
    const vars = Object.fromEntries(
      template.items
        .flatMap((item) => placeholderNames(item.params))
        .map((name) => [name, VALUES[name] ?? '']),
    );
    expect(Object.values(vars).filter((value) => value === '')).toEqual([]);
    const items = resolveItems(template, { vars, configured: () => true });
    expect(items).toHaveLength(template.items.length);
    for (const item of items) expect(placeholderNames(item.params)).toEqual([]);
  });
});

/** A plausible value for every var the default template uses. */
const VALUES: Record<string, string> = {
  databaseUrl: 'postgres://app@db.internal/app',
  cacheAddress: 'cache.internal:6379',
  objectStorageUrl: 'https://assets.example.com/health',
  cdnUrl: 'https://cdn.example.com/',
  alertingUrl: 'http://alertmanager.internal:9093/-/ready',
  requiredEnv: 'DATABASE_URL, SESSION_SECRET',
  migrateCommand: 'npm run migrate',
  migrateDownCommand: 'npm run migrate:down',
  testCommand: 'npm test',
  lowTrafficFrom: '22:00',
  lowTrafficTo: '06:00',
  healthPath: '/healthz',
  readyPath: '/readyz',
  journeyPath: '/cart',
  securityCheckCommand: 'npm audit --omit=dev --audit-level=high',
  dependencyCheckCommand: 'npm outdated',
  publicHost: 'www.example.com',
};

describe('loadTemplate: built-ins and extension', () => {
  it('gives no items for none', async () => {
    expect(await load('none')).toMatchObject({ name: 'none', file: 'none', items: [], dropped: [] });
  });

  it('reads a file relative to the config folder, named after the file unless it says', async () => {
    await write('base.yaml', BASE);
    await write('plain.yaml', BASE.replace('name: base\n', ''));
    expect((await load('base.yaml')).name).toBe('base');
    const plain = await load('plain.yaml');
    expect(plain.name).toBe('plain');
    expect(plain.file).toBe(path.join(dir, 'plain.yaml'));
    expect(plain.items.map((item) => item.id)).toEqual(['a/one', 'a/two', 'b/three']);
    expect(plain.items[1]).toEqual({
      id: 'a/two',
      section: 'A',
      title: 'Two',
      kind: 'http',
      gate: 'verify',
      params: { url: '/healthz' },
    });
  });

  it('adds items at the end of their section, replaces in place, and keeps drops with their reasons', async () => {
    await write('base.yaml', BASE);
    const file = await write(
      'team.yaml',
      `extends: base.yaml
items:
  - id: a/four
    section: A
    title: Four
    kind: manual
    gate: canary
  - id: a/one
    kind: http
    gate: pre-deploy
    params: { url: /ping }
  - id: c/five
    section: C
    title: Five
    kind: manual
    gate: scheduled
drop:
  - id: b/three
    reason: this service has no test suite
`,
    );
    const template = await load('team.yaml');
    expect(template.name).toBe('team');
    expect(template.items.map((item) => item.id)).toEqual(['a/one', 'a/two', 'a/four', 'c/five']);
    // A replacement stands for the same seed line: it keeps the base's section and title.
    expect(template.items[0]).toEqual({
      id: 'a/one',
      section: 'A',
      title: 'One',
      kind: 'http',
      gate: 'pre-deploy',
      params: { url: '/ping' },
    });
    expect(template.dropped).toEqual([
      {
        id: 'b/three',
        section: 'B',
        title: 'Three',
        kind: 'command',
        gate: 'post-deploy',
        params: { run: 'npm test' },
        reason: 'this service has no test suite',
        droppedIn: file,
      },
    ]);
    expect(template.locations.get('a/one')).toBe(`${file}:8:5`);
    expect(template.locations.get('a/two')).toBe(`${path.join(dir, 'base.yaml')}:8:5`);
  });

  it('extends the default and a chain of files, carrying drops along', async () => {
    await write(
      'org.yaml',
      `extends: default
drop:
  - id: pre-deployment/infrastructure/cdn
    reason: no CDN in front of this service
`,
    );
    await write(
      'team.yaml',
      `extends: org.yaml
items:
  - id: pre-deployment/infrastructure/message-queue
    section: Pre-Deployment / Infrastructure
    title: Message queue
    kind: manual
    gate: pre-deploy
`,
    );
    const template = await load('team.yaml');
    const ids = template.items.map((item) => item.id);
    expect(ids).toHaveLength(75);
    expect(ids).not.toContain('pre-deployment/infrastructure/cdn');
    expect(ids.indexOf('pre-deployment/infrastructure/message-queue')).toBe(
      ids.indexOf('pre-deployment/infrastructure/confirm-monitoring-and-alerting-are-configured') + 1,
    );
    expect(template.dropped.map((item) => [item.id, item.reason])).toEqual([
      ['pre-deployment/infrastructure/cdn', 'no CDN in front of this service'],
    ]);
  });

  it('leaves {{vars.NAME}} placeholders for the resolver, even where the kind would refuse them', async () => {
    await write(
      'vars.yaml',
      `items:
  - id: a/health
    section: A
    title: Health
    kind: http
    gate: verify
    params: { url: '{{vars.healthPath}}', target: canary }
`,
    );
    expect((await load('vars.yaml')).items[0]?.params).toEqual({
      url: '{{vars.healthPath}}',
      target: 'canary',
    });
  });
});

describe('loadTemplate: every problem at once, as file:line:col', () => {
  it('reports unknown kinds and gates, missing fields, repeated ids, bad drops and bad params', async () => {
    await write('base.yaml', BASE);
    const file = await write(
      'bad.yaml',
      `extends: base.yaml
items:
  - id: x/unknown-kind
    section: X
    title: Unknown kind
    kind: htpp
    gate: verify
  - id: x/unknown-gate
    section: X
    title: Unknown gate
    kind: manual
    gate: predeploy
  - id: x/missing-gate
    section: X
    title: Missing gate
    kind: manual
  - id: x/bad-params
    section: X
    title: Bad params
    kind: http
    gate: verify
    params: { url: healthz, expectStatus: "200", tagret: canary }
  - id: x/unknown-kind
    section: X
    title: Twice
    kind: manual
    gate: verify
drop:
  - id: a/tow
    reason: not here
  - id: b/three
`,
    );
    expect(await problemsOf('bad.yaml')).toEqual([
      `${file}:6:11: items[0].kind: unknown kind "htpp" (did you mean "http"?)`,
      `${file}:12:11: items[1].gate: unknown gate "predeploy" (did you mean "pre-deploy"?)`,
      `${file}:13:5: items[2].gate: required`,
      `${file}:22:20: items[3].params.url: expected an absolute http(s) URL or a path starting with /, got "healthz"`,
      `${file}:22:43: items[3].params.expectStatus: expected a number or a list, got string "200"`,
      `${file}:22:50: items[3].params: unknown key "tagret" (did you mean "target"?)`,
      `${file}:23:9: items[4].id: "x/unknown-kind" is already used by items[0] on line 3`,
      `${file}:29:9: drop[0].id: no item "a/tow" in the base template base.yaml (did you mean "a/two"?)`,
      `${file}:31:5: drop[1].reason: required; say why this item does not apply`,
    ]);
  });

  it('reports unknown keys, wrong types, bad ids and requires, and an empty reason', async () => {
    await write('base.yaml', BASE);
    const file = await write(
      'keys.yaml',
      `extends: base.yaml
itmes: []
items:
  - id: Not An Id
    section: X
    title: 3
    kind: manual
    gate: verify
    parms: {}
  - id: x/requires
    section: X
    title: Requires
    kind: http
    gate: verify
    params: { url: /x }
    requires: [backup, "not a key"]
  - just a string
drop:
  - id: a/two
    reason: ""
  - id: a/one
    reason: replaced and dropped
  - id: a/two
    reason: again
  - id: a/one
    reason: replaced and dropped
`,
    );
    expect(await problemsOf('keys.yaml')).toEqual([
      `${file}:2:1: unknown key "itmes"`,
      `${file}:4:9: items[0].id: expected a kebab-case id such as pre-deployment/testing/run-full-test-suite, got "Not An Id"`,
      `${file}:6:12: items[0].title: expected a string, got number 3`,
      `${file}:9:5: items[0]: unknown key "parms" (did you mean "params"?)`,
      `${file}:16:24: items[1].requires[1]: expected a config key such as backup or checklist.vars.healthPath, got "not a key"`,
      `${file}:17:5: items[2]: expected a mapping with id, section, title, kind and gate, got string "just a string"`,
      `${file}:20:13: drop[0].reason: must not be empty; say why this item does not apply`,
      `${file}:23:9: drop[2].id: "a/two" is already dropped by drop[0]`,
      `${file}:25:9: drop[3].id: "a/one" is already dropped by drop[1]`,
    ]);
  });

  it('refuses an id that is both replaced and dropped, and a drop without a base', async () => {
    await write('base.yaml', BASE);
    const both = await write(
      'both.yaml',
      `extends: base.yaml
items:
  - id: a/one
    kind: manual
    gate: verify
drop:
  - id: a/one
    reason: not needed
`,
    );
    expect(await problemsOf('both.yaml')).toEqual([
      `${both}:7:9: drop[0].id: "a/one" is also listed under items; replace it or drop it, not both`,
    ]);
    const orphan = await write('orphan.yaml', `${BASE}drop:\n  - id: a/one\n    reason: x\n`);
    expect(await problemsOf('orphan.yaml')).toEqual([
      `${orphan}:20:1: drop: needs "extends:"; without a base template there is nothing to drop`,
    ]);
  });

  it('requires section and title of a new item, and keeps a replacement in its section', async () => {
    await write('base.yaml', BASE);
    const file = await write(
      'fields.yaml',
      `extends: base.yaml
items:
  - id: x/new
    kind: manual
    gate: verify
  - id: a/two
    section: B
    kind: manual
    gate: verify
`,
    );
    expect(await problemsOf('fields.yaml')).toEqual([
      `${file}:3:5: items[0].section: required`,
      `${file}:3:5: items[0].title: required`,
      `${file}:7:14: items[1].section: "B" differs from the base item's section "A"; a replacement keeps its place, so drop the base item and add a new one to move it`,
    ]);
  });

  it("reports the base's problems with its own, and a base that is missing or loops", async () => {
    const base = await write('base.yaml', BASE.replace('kind: command', 'kind: comand'));
    const file = await write('child.yaml', 'extends: base.yaml\nitems:\n  - id: a/x\n    kind: manual\n');
    expect(await problemsOf('child.yaml')).toEqual([
      `${file}:3:5: items[0].gate: required`,
      `${base}:17:11: items[2].kind: unknown kind "comand" (did you mean "command"?)`,
    ]);

    const missing = await write('missing.yaml', 'extends: nowhere.yaml\n');
    expect(await problemsOf('missing.yaml')).toEqual([
      `${missing}:1:10: extends: ${path.join(dir, 'nowhere.yaml')}: no such file`,
    ]);

    await write('a.yaml', 'extends: b.yaml\n');
    const b = await write('b.yaml', 'extends: a.yaml\n');
    expect(await problemsOf('a.yaml')).toEqual([
      `${b}:1:10: extends: "a.yaml" closes a loop (a.yaml -> b.yaml -> a.yaml)`,
    ]);
  });

  it('reports a missing file, YAML syntax, an empty file and a top level that is not a mapping', async () => {
    expect(await problemsOf('absent.yaml')).toEqual([`${path.join(dir, 'absent.yaml')}: no such file`]);
    const syntax = await write('syntax.yaml', 'items:\n  - id: a\n  id: b\n');
    expect((await problemsOf('syntax.yaml'))[0]).toMatch(new RegExp(`^${syntax}:\\d+:\\d+: `));
    const duplicate = await write('duplicate.yaml', 'name: a\nname: b\nitems: []\n');
    expect(await problemsOf('duplicate.yaml')).toEqual([`${duplicate}:2:1: duplicate key "name"`]);
    const empty = await write('empty.yaml', '# nothing yet\n');
    expect(await problemsOf('empty.yaml')).toEqual([
      `${empty}:1:1: the file is empty; a template needs "items:" or "extends:"`,
    ]);
    const list = await write('list.yaml', '- id: a\n');
    expect(await problemsOf('list.yaml')).toEqual([
      `${list}:1:1: expected a mapping with "items:" at the top level, got a list`,
    ]);
    const bare = await write('bare.yaml', 'name: bare\n');
    expect(await problemsOf('bare.yaml')).toEqual([
      `${bare}:1:1: items: required; a template lists its items, or extends another one`,
    ]);
  });
});

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
      [
        'a/status',
        'manual',
        false,
        'this version of shipcheck cannot run "status-page" checks; sign it by hand',
      ],
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
    });
    expect(configured('backup')).toBe(true);
    expect(configured('backup.url')).toBe(true);
    expect(configured('fleet.scaling')).toBe(false);
    expect(configured('cdn')).toBe(false);
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
