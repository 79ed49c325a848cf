import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testContext } from '../../../test/support/check-context.js';
import {
  MINIMIST_ADVISORIES,
  createNpmProject,
  npmMissing,
  npmRegistry,
  startAdvisoryRegistry,
  withEnv,
  type BulkAdvisory,
} from '../../../test/support/npm-project.js';
import { parseAptSimulation, parseNpmAudit, vulnerabilitiesCheck } from './vulnerabilities.js';

const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const missingNpm = npmMissing();
if (missingNpm !== undefined && !REQUIRE_REAL)
  console.warn(`SKIPPING the vulnerabilities npm tests: ${missingNpm}`);
const missingApt =
  spawnSync('apt-get', ['--version']).status === 0
    ? undefined
    : 'apt-get is not installed (not a Debian system), so apt-get -s upgrade cannot be read';
if (missingApt !== undefined && !REQUIRE_REAL)
  console.warn(`SKIPPING the vulnerabilities apt test: ${missingApt}`);

/** Lines of `apt-get -s upgrade` as Debian 12 prints them: two from a security origin, one not. */
const APT_SIMULATION = `Reading package lists...
Building dependency tree...
Reading state information...
Calculating upgrade...
The following packages will be upgraded:
  libc6 tzdata zstd
3 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.
Inst libc6 [2.36-9+deb12u3] (2.36-9+deb12u4 Debian:12.5/stable, Debian-Security:12/stable-security [amd64])
Inst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.11/stable-updates [all])
Inst zstd [1.5.4+dfsg2-5] (1.5.4+dfsg2-5+deb12u1 Debian-Security:12/oldstable-security [amd64])
Conf libc6 (2.36-9+deb12u4 Debian:12.5/stable, Debian-Security:12/stable-security [amd64])
Conf tzdata (2025b-0+deb12u1 Debian:12.11/stable-updates [all])
Conf zstd (1.5.4+dfsg2-5+deb12u1 Debian-Security:12/oldstable-security [amd64])
`;

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-vulns-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(input: Record<string, unknown>) {
  const params = vulnerabilitiesCheck.params.parse(input);
  return vulnerabilitiesCheck.run(params, testContext({ configDir: dir }));
}

describe('vulnerabilities params', () => {
  it('fills defaults and refuses an unknown source or severity', () => {
    expect(vulnerabilitiesCheck.params.parse({ source: 'npm' })).toEqual({
      source: 'npm',
      failOn: 'high',
      maxSecurityUpgrades: 0,
      timeout: 300_000,
    });
    expect(vulnerabilitiesCheck.params.safeParse({ source: 'yum' }).success).toBe(false);
    expect(vulnerabilitiesCheck.params.safeParse({ source: 'npm', failOn: 'severe' }).success).toBe(false);
    expect(vulnerabilitiesCheck.params.safeParse({ source: 'npm', severity: 'high' }).success).toBe(false);
  });
});

describe('parsing scanner output', () => {
  it('reads pending upgrades, telling security origins from others', () => {
    expect(parseAptSimulation(APT_SIMULATION)).toEqual([
      {
        package: 'libc6',
        from: '2.36-9+deb12u3',
        to: '2.36-9+deb12u4',
        origin: 'Debian:12.5/stable, Debian-Security:12/stable-security',
        security: true,
      },
      {
        package: 'tzdata',
        from: '2024a-0+deb12u1',
        to: '2025b-0+deb12u1',
        origin: 'Debian:12.11/stable-updates',
        security: false,
      },
      {
        package: 'zstd',
        from: '1.5.4+dfsg2-5',
        to: '1.5.4+dfsg2-5+deb12u1',
        origin: 'Debian-Security:12/oldstable-security',
        security: true,
      },
    ]);
    expect(
      parseAptSimulation(
        'Reading package lists...\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n',
      ),
    ).toEqual([]);
    expect(parseAptSimulation('Inst newpkg (1.0 Ubuntu:22.04/jammy-security [amd64])\n')).toEqual([
      { package: 'newpkg', to: '1.0', origin: 'Ubuntu:22.04/jammy-security', security: true },
    ]);
    expect(parseAptSimulation('E: Could not open lock file\n')).toBeUndefined();
  });

  it("reads npm 6's advisories shape", () => {
    const report = parseNpmAudit({
      advisories: {
        '1179': { module_name: 'minimist', severity: 'moderate', title: 'Prototype Pollution' },
        '755': { module_name: 'handlebars', severity: 'critical', title: 'Prototype Pollution' },
      },
      metadata: { vulnerabilities: { info: 0, low: 0, moderate: 1, high: 0, critical: 1 } },
    });
    expect(report).toEqual({
      counts: { info: 0, low: 0, moderate: 1, high: 0, critical: 1 },
      findings: [
        { package: 'handlebars', severity: 'critical', title: 'Prototype Pollution' },
        { package: 'minimist', severity: 'moderate', title: 'Prototype Pollution' },
      ],
    });
    expect(parseNpmAudit({ dependencies: {} })).toBeUndefined();
  });
});

describe('vulnerabilities through command', () => {
  it("fails on a scanner whose JSON follows npm 6's shape, listing the findings", async () => {
    fs.writeFileSync(
      path.join(dir, 'report.json'),
      JSON.stringify({
        advisories: { '1': { module_name: 'lodash', severity: 'high', title: 'Command Injection' } },
        metadata: { vulnerabilities: { info: 0, low: 2, moderate: 0, high: 1, critical: 0 } },
      }),
    );
    const result = await run({ source: 'npm', command: ['cat', 'report.json'] });
    expect(result).toMatchObject({
      ok: false,
      summary: 'cat report.json: 1 vulnerability at high or above (1 high); 2 below high',
      value: 1,
      data: {
        command: 'cat report.json',
        counts: { low: 2, high: 1 },
        findings: [{ package: 'lodash', severity: 'high', title: 'Command Injection' }],
      },
    });
    expect(result.inconclusive).toBeUndefined();
    expect(result.output).toBe('high      lodash: Command Injection');
    const lenient = await run({ source: 'npm', command: ['cat', 'report.json'], failOn: 'critical' });
    expect(lenient).toMatchObject({
      ok: true,
      summary: 'cat report.json: no vulnerability at critical or above; 3 below critical',
    });
  });

  it('is inconclusive on output of neither shape, quoting its first lines', async () => {
    const result = await run({ source: 'npm', command: 'echo "scanner 1.0"; echo "all good"' });
    expect(result).toMatchObject({
      ok: false,
      inconclusive: true,
      summary: `echo "scanner 1.0"; echo "all good": exit 0, output is not npm audit's JSON`,
      output: 'scanner 1.0\nall good',
    });
    const apt = await run({ source: 'apt', command: ['echo', 'nothing to see'] });
    expect(apt).toMatchObject({ ok: false, inconclusive: true, output: 'nothing to see' });
  });

  it('is inconclusive when the scanner says the mirror cannot be reached', async () => {
    const result = await run({
      source: 'apt',
      command: 'echo "E: Failed to fetch http://deb.debian.org: Could not resolve (ENOTFOUND)" >&2; exit 100',
    });
    expect(result).toMatchObject({ ok: false, inconclusive: true });
    expect(result.summary).toContain('the registry or mirror could not be reached (ENOTFOUND)');
  });

  it('is inconclusive when the scanner does not finish in time, or cannot start', async () => {
    const slow = await run({ source: 'npm', command: ['sleep', '10'], timeout: '200ms' });
    expect(slow).toMatchObject({ ok: false, inconclusive: true });
    expect(slow.summary).toMatch(/^sleep 10: no answer within 200ms/);
    const missing = await run({ source: 'npm', command: ['/nonexistent/scanner'] });
    expect(missing).toMatchObject({ ok: false, inconclusive: true });
    expect(missing.summary).toMatch(/^\/nonexistent\/scanner: cannot start: .*ENOENT/);
  });

  it('fails on captured apt lines with pending security upgrades', async () => {
    fs.writeFileSync(path.join(dir, 'apt.txt'), APT_SIMULATION);
    const result = await run({ source: 'apt', command: ['cat', 'apt.txt'] });
    expect(result).toMatchObject({
      ok: false,
      summary:
        'cat apt.txt: 2 upgrades from a security origin pending, more than maxSecurityUpgrades 0; 1 other upgrade pending',
      value: 2,
      data: { counts: { security: 2, other: 1 } },
    });
    expect(result.output?.split('\n')[0]).toBe(
      'security  libc6: 2.36-9+deb12u3 -> 2.36-9+deb12u4 (Debian:12.5/stable, Debian-Security:12/stable-security)',
    );
    const allowed = await run({ source: 'apt', command: ['cat', 'apt.txt'], maxSecurityUpgrades: 2 });
    expect(allowed.ok, allowed.summary).toBe(true);
  });
});

describe.runIf(missingNpm !== undefined && REQUIRE_REAL)('vulnerabilities against npm (required)', () => {
  it('has npm because SHIPCHECK_REQUIRE_REAL=1', () => {
    expect.fail(missingNpm);
  });
});

describe.skipIf(missingNpm !== undefined)('vulnerabilities: the real npm audit', () => {
  let project: string;
  let advisories: Record<string, BulkAdvisory[]> = {};
  let registry: Awaited<ReturnType<typeof startAdvisoryRegistry>>;
  beforeAll(async () => {
    project = createNpmProject();
    registry = await startAdvisoryRegistry(npmRegistry(), () => advisories);
  }, 180_000);
  afterAll(async () => {
    await registry.close();
    fs.rmSync(project, { recursive: true, force: true });
  });

  const audit = (input: Record<string, unknown> = {}) =>
    vulnerabilitiesCheck.run(
      vulnerabilitiesCheck.params.parse({ source: 'npm', cwd: project, ...input }),
      testContext({ configDir: dir }),
    );

  it('fails on minimist 0.0.8, whose advisories the registry reports', async () => {
    advisories = { minimist: MINIMIST_ADVISORIES };
    const result = await withEnv({ npm_config_registry: registry.url }, () => audit());
    expect(result).toMatchObject({
      ok: false,
      summary: 'npm audit --json: 1 vulnerability at high or above (1 critical)',
      value: 1,
      data: {
        command: 'npm audit --json',
        cwd: project,
        counts: { critical: 1 },
        findings: [{ package: 'minimist', severity: 'critical', title: 'Prototype Pollution in minimist' }],
      },
    });
    expect(result.inconclusive).toBeUndefined();
  }, 120_000);

  it('passes when only advisories below failOn are known', async () => {
    advisories = { minimist: MINIMIST_ADVISORIES.filter((a) => a.severity === 'moderate') };
    const result = await withEnv({ npm_config_registry: registry.url }, () => audit());
    expect(result).toMatchObject({
      ok: true,
      summary: 'npm audit --json: no vulnerability at high or above; 1 below high',
      data: { counts: { moderate: 1 } },
    });
    const strict = await withEnv({ npm_config_registry: registry.url }, () => audit({ failOn: 'moderate' }));
    expect(strict.ok).toBe(false);
  }, 120_000);

  it('is inconclusive, never passed, when the registry cannot be reached', async () => {
    const result = await withEnv({ npm_config_registry: 'http://127.0.0.1:1' }, () => audit());
    expect(result).toMatchObject({ ok: false, inconclusive: true });
    expect(result.summary).toMatch(
      /^npm audit --json: the registry could not be reached \(ECONNREFUSED\): request to http:\/\/127\.0\.0\.1:1\//,
    );
  }, 120_000);

  it('is inconclusive when npm cannot audit the folder (no lock file)', async () => {
    const result = await audit({ cwd: dir });
    expect(result).toMatchObject({ ok: false, inconclusive: true });
    expect(result.summary).toMatch(/^npm audit --json: npm reported an error: .*ENOLOCK/);
  }, 120_000);

  it('never passes against the configured registry: findings, or inconclusive without an advisory service', async () => {
    // The mirror in reach here answers the advisory endpoint with 405; the public registry reports minimist.
    const result = await audit();
    expect(result.ok).toBe(false);
    if (result.inconclusive !== true) expect(JSON.stringify(result.data)).toContain('minimist');
  }, 120_000);
});

describe.runIf(missingApt !== undefined && REQUIRE_REAL)('vulnerabilities against apt (required)', () => {
  it('has apt-get because SHIPCHECK_REQUIRE_REAL=1', () => {
    expect.fail(missingApt);
  });
});

describe.skipIf(missingApt !== undefined)('vulnerabilities: the real apt-get -s upgrade', () => {
  it('counts pending upgrades from a security origin, changing nothing', async () => {
    const result = await run({ source: 'apt' });
    expect(result.inconclusive, result.summary).toBeUndefined();
    const data = result.data as { counts: { security: number; other: number }; command: string };
    expect(data.command).toBe('apt-get -s upgrade');
    expect(result.value).toBe(data.counts.security);
    expect(result.ok, result.summary).toBe(data.counts.security === 0);
    expect(result.summary).toMatch(/^apt-get -s upgrade: \d+ upgrades? from a security origin pending/);
  }, 120_000);
});
