import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { templateFolder } from '../../test/support/template-files.js';
import { GATES } from '../domain/checklist.js';
import { PLANNED_KIND_NAMES, checkKinds } from './kinds/index.js';
import { placeholderNames, resolveItems } from './template.js';

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

const { load } = templateFolder();

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
  appDir: '../app',
  publicHost: 'www.example.com',
  primarySchedule: 'primary',
  secondarySchedule: 'secondary',
  escalationPolicy: 'default',
  cacheUrls: '/, /assets/app.js',
  targetRate: '500',
};
