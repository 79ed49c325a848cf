/**
 * Schedules in templates and config: a bad cron or zone is reported at its file:line:col, overrides
 * replace the template's schedules (or turn them off), and an override naming no item is an error at
 * its line. The default template schedules its automated scheduled items and none of its sign-offs.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkKinds } from '../checklist/kinds/index.js';
import { configuredIn, loadTemplate, resolveItems } from '../checklist/template.js';
import { loadConfig } from '../config/loader.js';
import { validateCommand } from '../cli/commands/validate.js';
import { ConfigError } from '../errors.js';
import { cronProblem, nextSlot } from './cron.js';
import { scheduledItems } from './scheduled-items.js';
import { checkScheduleOverrides } from './unit-scheduler.js';

const kinds = checkKinds();
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sc-schedule-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function problemsOf(run: () => Promise<unknown>): Promise<string[]> {
  try {
    await run();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('cron schedules', () => {
  it('takes 5 or 6 fields and says what is wrong otherwise', () => {
    expect(cronProblem('0 3 * * 0')).toBeUndefined();
    expect(cronProblem('*/5 * * * * *')).toBeUndefined();
    expect(cronProblem('0 3 * *')).toMatch(/has 4 fields; a schedule is a cron expression of 5 fields/);
    expect(cronProblem('0 25 * * *')).toMatch(/"0 25 \* \* \*" is not a cron expression: .*hour/i);
    expect(nextSlot('*/5 * * * * *', 'UTC', Date.UTC(2026, 0, 1, 0, 0, 1))).toBe(
      Date.UTC(2026, 0, 1, 0, 0, 5),
    );
  });
});

describe('schedules in templates', () => {
  it('reports a bad schedule or zone at its file:line:col', async () => {
    const file = path.join(dir, 'checks.yaml');
    await writeFile(
      file,
      [
        'items:',
        '  - id: maintenance/regular-checks/disk',
        '    section: Maintenance / Regular Checks',
        '    title: Disk',
        '    kind: command',
        '    gate: scheduled',
        '    schedule: "0 3 * *"',
        '    timezone: Mars/Olympus',
        '    params: { run: "true" }',
        '',
      ].join('\n'),
    );
    const problems = await problemsOf(() => loadTemplate(file, { configDir: dir, kinds }));
    expect(problems).toEqual([
      expect.stringMatching(/checks\.yaml:7:15: items\[0\]\.schedule: "0 3 \* \*" has 4 fields/),
      expect.stringMatching(/checks\.yaml:8:15: items\[0\]\.timezone: unknown time zone "Mars\/Olympus"/),
    ]);
  });

  it('schedules the default template’s automated scheduled items, and none of its sign-offs', async () => {
    const template = await loadTemplate('default', { configDir: dir, kinds });
    const scheduled = template.items.filter((item) => item.schedule !== undefined);
    expect(scheduled.every((item) => item.gate === 'scheduled' && item.kind !== 'manual')).toBe(true);
    const byId = new Map(scheduled.map((item) => [item.id, item.schedule]));
    expect(byId.get('maintenance/regular-checks/backup-verification')).toBe('0 3 * * 0');
    for (const id of ['certificate-renewal', 'security-patches', 'dependency-updates']) {
      expect(byId.has(`maintenance/regular-checks/${id}`)).toBe(true);
    }
    const automatedUnscheduled = template.items.filter(
      (item) => item.gate === 'scheduled' && item.kind !== 'manual' && item.schedule === undefined,
    );
    expect(automatedUnscheduled.map((item) => item.id)).toEqual([]);
  });
});

describe('maintenance overrides in config', () => {
  async function configFile(lines: string[]): Promise<string> {
    const file = path.join(dir, 'shipcheck.yaml');
    await writeFile(
      file,
      [
        'service: web',
        'fleet: { kind: local, command: "true" }',
        'checklist: { template: default }',
        ...lines,
        '',
      ].join('\n'),
    );
    return file;
  }

  it('replaces and turns off template schedules, in the service’s zone', async () => {
    const file = await configFile([
      'maintenance:',
      '  timezone: Europe/Berlin',
      '  schedules:',
      '    security/data-protection/key-rotation-schedule: "*/5 * * * * *"',
      '    maintenance/regular-checks/backup-verification: "off"',
      '  notify: [{ channel: ops }, { user: ana }, { schedule: primary }]',
    ]);
    const loaded = await loadConfig(file);
    const template = await loadTemplate('default', { configDir: dir, kinds });
    expect(() => checkScheduleOverrides(loaded, undefined, loaded.config, template.items)).not.toThrow();
    const items = resolveItems(template, { vars: {}, configured: configuredIn(loaded.config) });
    const scheduled = new Map(
      scheduledItems(items, loaded.config.maintenance).map((item) => [item.id, item]),
    );
    expect(scheduled.get('security/data-protection/key-rotation-schedule')).toMatchObject({
      schedule: '*/5 * * * * *',
      timezone: 'Europe/Berlin',
      source: 'override',
      automated: true,
    });
    expect(scheduled.get('maintenance/regular-checks/backup-verification')).toMatchObject({
      schedule: undefined,
      source: 'override',
    });
    expect(scheduled.get('maintenance/regular-checks/certificate-renewal')).toMatchObject({
      schedule: '0 6 * * *',
      timezone: 'Europe/Berlin',
      source: 'template',
    });
  });

  it('reports a bad cron or zone, and a key naming no item, at its line', async () => {
    const bad = await configFile([
      'maintenance:',
      '  timezone: Nowhere/City',
      '  schedules:',
      '    x/y: "99 * * * *"',
    ]);
    const problems = await problemsOf(() => loadConfig(bad));
    expect(problems).toEqual([
      expect.stringMatching(/shipcheck\.yaml:5:13: .*unknown time zone "Nowhere\/City"/),
      expect.stringMatching(/shipcheck\.yaml:7:10: .*"99 \* \* \* \*" is not a cron expression/),
    ]);

    const unknown = await configFile([
      'maintenance:',
      '  schedules:',
      '    maintenance/regular-checks/backup-verfication: "0 1 * * *"',
    ]);
    const loaded = await loadConfig(unknown);
    const template = await loadTemplate('default', { configDir: dir, kinds });
    expect(
      await problemsOf(async () => checkScheduleOverrides(loaded, undefined, loaded.config, template.items)),
    ).toEqual([
      expect.stringMatching(
        /shipcheck\.yaml:6:5: maintenance\.schedules: no checklist item "maintenance\/regular-checks\/backup-verfication" \(did you mean "maintenance\/regular-checks\/backup-verification"\?\)/,
      ),
    ]);
    // `shipcheck validate` says the same (beside the default template's plan problems of this bare config).
    const validated = await problemsOf(() => validateCommand({ config: unknown }, { out: () => undefined }));
    expect(validated[0]).toMatch(/shipcheck\.yaml:6:5: maintenance\.schedules: no checklist item/);
  });
});
