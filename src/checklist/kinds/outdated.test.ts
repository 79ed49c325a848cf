import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../util/clock.js';
import { testContext } from '../../../test/support/check-context.js';
import { createNpmProject, npmMissing, PINNED, withEnv } from '../../../test/support/npm-project.js';
import { outdatedCheck, parseNpmOutdated } from './outdated.js';

const DAY_MS = 86_400_000;
const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const missingNpm = npmMissing();
if (missingNpm !== undefined && !REQUIRE_REAL) console.warn(`SKIPPING the outdated npm tests: ${missingNpm}`);

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-outdated-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(input: Record<string, unknown>, clock = new ManualClock()) {
  const params = outdatedCheck.params.parse(input);
  return outdatedCheck.run(params, testContext({ configDir: dir, clock }));
}

describe('outdated params and parsing', () => {
  it('fills defaults and refuses unknown params', () => {
    expect(outdatedCheck.params.parse({})).toEqual({ maxMajorBehind: 0, ignore: [], timeout: 300_000 });
    expect(outdatedCheck.params.safeParse({ maxMajorBehind: -1 }).success).toBe(false);
    expect(outdatedCheck.params.safeParse({ maxDays: 3 }).success).toBe(false);
  });

  it('reads current (or wanted, when nothing is installed) against latest, one entry per dependent', () => {
    expect(
      parseNpmOutdated({
        left: { current: '1.0.0', wanted: '1.4.0', latest: '3.1.0', dependent: 'app' },
        pinned: { wanted: '0.0.8', latest: '1.2.8', dependent: 'app' },
        fresh: { current: '2.0.0', wanted: '2.0.0', latest: '2.0.0', dependent: 'app' },
        shared: [
          { current: '4.0.0', wanted: '4.0.0', latest: '4.2.0', dependent: 'a' },
          { current: '3.0.0', wanted: '3.0.0', latest: '4.2.0', dependent: 'b' },
        ],
        git: { current: 'git', wanted: 'git', latest: '2.0.0', dependent: 'app' },
      }),
    ).toEqual([
      { package: 'left', current: '1.0.0', latest: '3.1.0', majorsBehind: 2, problems: [] },
      { package: 'pinned', current: '0.0.8', latest: '1.2.8', majorsBehind: 1, problems: [] },
      { package: 'shared', current: '4.0.0', latest: '4.2.0', majorsBehind: 0, problems: [] },
      { package: 'shared', current: '3.0.0', latest: '4.2.0', majorsBehind: 1, problems: [] },
      { package: 'git', current: 'git', latest: '2.0.0', majorsBehind: 0, problems: [] },
    ]);
  });

  it('plugs another tool in through command, and is inconclusive on output it cannot read', async () => {
    fs.writeFileSync(
      path.join(dir, 'outdated.json'),
      JSON.stringify({ express: { current: '4.21.0', wanted: '4.21.0', latest: '5.1.0' } }),
    );
    const result = await run({ command: ['cat', 'outdated.json'] });
    expect(result).toMatchObject({
      ok: false,
      summary:
        'cat outdated.json: 1 of 1 outdated dependency is too far behind: express 4.21.0 -> 5.1.0 (1 major version behind)',
      value: 1,
    });
    const tolerant = await run({ command: ['cat', 'outdated.json'], maxMajorBehind: 1 });
    expect(tolerant).toMatchObject({
      ok: true,
      summary: 'cat outdated.json: 1 outdated, all within maxMajorBehind 1',
    });
    const ignored = await run({ command: ['cat', 'outdated.json'], ignore: ['express'] });
    expect(ignored).toMatchObject({
      ok: true,
      summary: 'cat outdated.json: no dependency behind its latest release (1 outdated ignored)',
    });
    const garbage = await run({ command: 'echo "Package Current Wanted Latest"; exit 1' });
    expect(garbage).toMatchObject({ ok: false, inconclusive: true, output: 'Package Current Wanted Latest' });
  });
});

describe.runIf(missingNpm !== undefined && REQUIRE_REAL)('outdated against npm (required)', () => {
  it('has npm because SHIPCHECK_REQUIRE_REAL=1', () => {
    expect.fail(missingNpm);
  });
});

describe.skipIf(missingNpm !== undefined)('outdated: the real npm outdated', () => {
  let project: string;
  /** When each pinned package's latest release was published, as the registry says. */
  const published: Record<string, number> = {};
  beforeAll(() => {
    project = createNpmProject();
    for (const name of Object.keys(PINNED)) {
      const view = JSON.parse(
        execFileSync('npm', ['view', name, 'dist-tags.latest', 'time', '--json'], {
          cwd: project,
          encoding: 'utf8',
        }),
      ) as { 'dist-tags.latest': string; time: Record<string, string> };
      published[name] = Date.parse(view.time[view['dist-tags.latest']]!);
    }
  }, 180_000);
  afterAll(() => fs.rmSync(project, { recursive: true, force: true }));

  it('fails on dependencies a major version or more behind latest', async () => {
    const result = await run({ cwd: project });
    expect(result.ok).toBe(false);
    expect(result.inconclusive).toBeUndefined();
    expect(result.summary).toMatch(
      /^npm outdated --json: 2 of 2 outdated dependencies are too far behind: minimist 0\.0\.8 -> \d+\.\d+\.\d+ \(\d+ major versions? behind\); semver 5\.7\.2 -> \d+\.\d+\.\d+ \(\d+ major versions behind\)$/,
    );
    expect(result.data).toMatchObject({ outdated: 2, failing: 2, cwd: project });
    const tolerant = await run({ cwd: project, maxMajorBehind: 100 });
    expect(tolerant.ok, tolerant.summary).toBe(true);
  }, 120_000);

  it('fails when the latest release lagged was published more than maxDaysBehind days ago', async () => {
    const newest = Math.max(...Object.values(published));
    const clock = new ManualClock(newest + 10 * DAY_MS + DAY_MS / 2);
    const result = await run({ cwd: project, maxMajorBehind: 100, maxDaysBehind: 9 }, clock);
    expect(result.ok).toBe(false);
    expect(result.summary).toContain('published 10 days ago, over maxDaysBehind 9');
    const days = (result.data as { dependencies: { daysBehind: number }[] }).dependencies.map(
      (d) => d.daysBehind,
    );
    expect(Math.min(...days)).toBe(10);
    const patient = await run({ cwd: project, maxMajorBehind: 100, maxDaysBehind: 1_000_000 }, clock);
    expect(patient.ok, patient.summary).toBe(true);
    expect(patient.summary).toBe(
      'npm outdated --json: 2 outdated, all within maxMajorBehind 100 and maxDaysBehind 1000000',
    );
  }, 120_000);

  it('is inconclusive, never passed, when the registry cannot be reached', async () => {
    // Retries off: npm would otherwise retry the refused connection for about a minute.
    const unreachable = { npm_config_registry: 'http://127.0.0.1:1', npm_config_fetch_retries: '0' };
    const result = await withEnv(unreachable, () => run({ cwd: project }));
    expect(result).toMatchObject({ ok: false, inconclusive: true });
    expect(result.summary).toMatch(
      /^npm outdated --json: the registry could not be reached \(ECONNREFUSED\): ECONNREFUSED: FetchError/,
    );
  }, 120_000);

  it('is inconclusive when the release dates cannot be looked up', async () => {
    fs.writeFileSync(
      path.join(project, 'outdated.json'),
      JSON.stringify({ minimist: { wanted: PINNED.minimist, latest: '1.2.8' } }),
    );
    const unreachable = { npm_config_registry: 'http://127.0.0.1:1', npm_config_fetch_retries: '0' };
    const result = await withEnv(unreachable, () =>
      run({ cwd: project, command: ['cat', 'outdated.json'], maxMajorBehind: 1, maxDaysBehind: 30 }),
    );
    expect(result).toMatchObject({ ok: false, inconclusive: true });
    expect(result.summary).toMatch(
      /^cat outdated\.json: the release date of 1 outdated dependency is unknown \(minimist: .*ECONNREFUSED/,
    );
  }, 120_000);
});
