import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { installationOf, loadInstallation } from './installation.js';
import { loadConfig } from './loader.js';

let dir: string;
let cwd: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shipcheck-oncall-'));
  await mkdir(path.join(dir, 'services'));
  cwd = process.cwd();
  process.chdir(dir);
});

afterEach(async () => {
  process.chdir(cwd);
  await rm(dir, { recursive: true, force: true });
});

const SERVICE = 'service: web\nfleet: { kind: local, command: node app.js }\n';

async function problems(yaml: string): Promise<string[]> {
  await writeFile(path.join(dir, 'shipcheck.yaml'), SERVICE + yaml);
  const error = await loadConfig('shipcheck.yaml')
    .then((loaded) => installationOf(loaded))
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(error)}`);
  return error.problems;
}

const GOOD = `channels:
  - { name: ops-slack, type: slack, url: 'https://hooks.example.com/x' }
oncall:
  schedules:
    - name: primary
      timeZone: Europe/Berlin
      layers:
        - name: weekdays
          users: [ana, bo]
          start: 2026-01-05T09:00
          turn: weekly
          handoff: mon 09:00
          restrict: { days: [mon, tue, wed, thu, fri], from: '09:00', to: '17:00' }
        - name: nights
          users: [cy]
          start: 2026-01-05T17:00
          turn: daily
          restrict:
            - { days: [mon, tue, wed, thu], from: '17:00', to: '09:00' }
            - { days: [fri], from: '17:00', to: '24:00' }
      overrides:
        - { user: di, from: 2026-12-24T00:00, to: '2026-12-27T00:00:00+01:00', reason: holidays }
  escalationPolicies:
    - name: default
      steps:
        - { delay: 10m, targets: [{ schedule: primary }, { channel: ops-slack }] }
        - targets: [{ user: lead }]
      repeat: 2
`;

describe('oncall config', () => {
  it('parses schedules to the resolver words and policies to EscalationPolicy', async () => {
    await writeFile(path.join(dir, 'shipcheck.yaml'), SERVICE + GOOD);
    const { oncall } = (await loadConfig('shipcheck.yaml')).config;
    const [primary] = oncall.schedules;
    expect(primary?.layers[0]).toEqual({
      name: 'weekdays',
      users: ['ana', 'bo'],
      start: Date.UTC(2026, 0, 5, 9),
      turn: { kind: 'days', days: 7 },
      handoff: { weekday: 0, minute: 540 },
      restrict: [{ days: [0, 1, 2, 3, 4], from: 540, to: 1020 }],
    });
    expect(primary?.layers[1]?.restrict).toHaveLength(2);
    expect(primary?.overrides).toEqual([
      {
        user: 'di',
        from: Date.parse('2026-12-23T23:00:00Z'),
        to: Date.parse('2026-12-26T23:00:00Z'),
        reason: 'holidays',
      },
    ]);
    expect(oncall.escalationPolicies).toEqual([
      {
        name: 'default',
        steps: [
          { delayMs: 600_000, targets: [{ schedule: 'primary' }, { channel: 'ops-slack' }] },
          { delayMs: 300_000, targets: [{ user: 'lead' }] },
        ],
        repeat: 2,
        ackTimeoutMs: 1_800_000,
      },
    ]);
  });

  it('explains overlapping layers with the stretch of the week and the zone', async () => {
    const yaml = `oncall:
  schedules:
    - name: primary
      timeZone: Europe/Berlin
      layers:
        - name: weekdays
          users: [ana]
          start: 2026-01-05T09:00
          turn: daily
          restrict: { days: [mon, tue, wed, thu, fri], from: '09:00', to: '17:00' }
        - name: all-week
          users: [bo]
          start: 2026-01-05T09:00
          turn: daily
        - name: late
          users: [cy]
          start: 2026-01-05T09:00
          turn: daily
          restrict: { days: [sun], from: '22:00', to: '02:00' }
`;
    expect(await problems(yaml)).toEqual([
      'shipcheck.yaml:13:11: oncall.schedules[0].layers[1]: layers "weekdays" and "all-week" are both on call on Monday 09:00-17:00 (Europe/Berlin); give them restrictions that do not overlap, or use an override',
      'shipcheck.yaml:17:11: oncall.schedules[0].layers[2]: layers "all-week" and "late" are both on call on Monday 00:00-02:00 (Europe/Berlin); give them restrictions that do not overlap, or use an override',
    ]);
  });

  it('accepts layers whose windows only touch, including one that wraps past midnight', async () => {
    const yaml = `oncall:
  schedules:
    - name: primary
      timeZone: America/New_York
      layers:
        - { name: day, users: [ana], start: 2026-01-05T09:00, turn: daily, restrict: { from: '09:00', to: '21:00' } }
        - { name: night, users: [bo], start: 2026-01-05T21:00, turn: daily, restrict: { from: '21:00', to: '09:00' } }
`;
    await writeFile(path.join(dir, 'shipcheck.yaml'), SERVICE + yaml);
    expect((await loadConfig('shipcheck.yaml')).config.oncall.schedules[0]?.layers).toHaveLength(2);
  });

  it('explains a layer without users, an empty restriction, an unknown zone, bad turns and hand-offs', async () => {
    const yaml = `oncall:
  schedules:
    - name: primary
      timeZone: Europe/Atlantis
      layers:
        - { name: a, users: [], start: 2026-01-05T09:00, turn: daily }
        - { name: b, users: [bo], start: 2026-01-05T09:00, turn: fortnightly, restrict: { days: [] } }
        - { name: c, users: [cy], start: 2026-13-05T09:00, turn: hourly, handoff: '09:00', restrict: { from: '10:00', to: '10:00' } }
        - { name: d, users: [di], start: 2026-01-05T09:00, turn: daily, handoff: 'mon 09:00', restrict: { days: [caturday] } }
`;
    expect(await problems(yaml)).toEqual([
      'shipcheck.yaml:6:17: oncall.schedules[0].timeZone: unknown time zone; use an IANA name such as Europe/Berlin or America/New_York, got "Europe/Atlantis"',
      'shipcheck.yaml:8:29: oncall.schedules[0].layers[0].users: a layer needs at least one user',
      'shipcheck.yaml:9:66: oncall.schedules[0].layers[1].turn: expected hourly, daily, weekly or a duration such as 12h, 3d or 2w, got "fortnightly"',
      'shipcheck.yaml:9:97: oncall.schedules[0].layers[1].restrict.days: name at least one day, or leave days out for every day',
      'shipcheck.yaml:10:42: oncall.schedules[0].layers[2].start: expected a local date and time such as 2026-01-05T09:00, got "2026-13-05T09:00"',
      'shipcheck.yaml:10:102: oncall.schedules[0].layers[2].restrict: from and to are the same time, so the window covers no time; leave both out for the whole day',
      'shipcheck.yaml:11:114: oncall.schedules[0].layers[3].restrict.days[0]: expected a day of the week: mon, tue, wed, thu, fri, sat, sun, got "caturday"',
    ]);
    // A hand-off that does not fit the turn is explained once the layer is otherwise right.
    const handoffs = `oncall:
  schedules:
    - name: primary
      timeZone: Europe/Berlin
      layers:
        - { name: c, users: [cy], start: 2026-01-05T09:00, turn: hourly, handoff: '09:00', restrict: { days: [sat] } }
        - { name: d, users: [di], start: 2026-01-05T09:00, turn: daily, handoff: 'mon 09:00', restrict: { days: [sun] } }
`;
    expect(await problems(handoffs)).toEqual([
      'shipcheck.yaml:8:83: oncall.schedules[0].layers[0].handoff: a hand-off time is for daily, weekly and whole-day turns; an hourly turn hands over every turn from its start, got "09:00"',
      'shipcheck.yaml:9:82: oncall.schedules[0].layers[1].handoff: a hand-off weekday needs a turn of whole weeks; give a time of day only, got "mon 09:00"',
    ]);
  });

  it('explains duplicate names, empty steps, and a policy naming a schedule or channel that does not exist', async () => {
    const yaml = `channels: [{ name: ops-slack, type: slack, url: 'https://hooks.example.com/x' }]
oncall:
  schedules:
    - { name: primary, timeZone: UTC, layers: [{ name: a, users: [ana], start: 2026-01-05T09:00, turn: daily }] }
    - { name: primary, timeZone: UTC, layers: [{ name: a, users: [ana], start: 2026-01-05T09:00, turn: daily }] }
  escalationPolicies:
    - name: default
      steps:
        - { delay: 5m, targets: [] }
        - { delay: 5m, targets: [{ schedule: secondary }, { channel: pager }] }
    - { name: default, steps: [{ targets: [{ user: ana }] }] }
`;
    expect(await problems(yaml)).toEqual([
      'shipcheck.yaml:7:7: oncall.schedules[1]: schedule "primary" is also schedules[0]; give each schedule its own name',
      'shipcheck.yaml:11:33: oncall.escalationPolicies[0].steps[0].targets: a step needs at least one target: {user: ...}, {schedule: ...} or {channel: ...}',
      'shipcheck.yaml:12:34: oncall.escalationPolicies[0].steps[1].targets[0]: no schedule is named "secondary"; the schedules are "primary"',
      'shipcheck.yaml:13:7: oncall.escalationPolicies[1]: policy "default" is also escalationPolicies[0]; give each policy its own name',
    ]);
    const fixed = yaml
      .replace('targets: [] }', 'targets: [{ user: ana }] }')
      .replace('secondary', 'primary')
      .replace(/ {4}- \{ name: primary[^\n]*\n(?= {2}escalation)/, '')
      .replace(/ {4}- \{ name: default, steps[^\n]*\n/, '');
    expect(await problems(fixed)).toEqual([
      'shipcheck.yaml:11:59: oncall.escalationPolicies[0].steps[1].targets[1].channel: no channel is named "pager"; the channels are "ops-slack"',
    ]);
  });
  it('checks channel names in a control-plane file, where the service files inherit oncall', async () => {
    await writeFile(
      path.join(dir, 'shipcheck.yaml'),
      `services: [services/*.yaml]
oncall:
  escalationPolicies:
    - { name: default, steps: [{ targets: [{ channel: ops-slack }] }] }
`,
    );
    await writeFile(path.join(dir, 'services', 'web.yaml'), SERVICE);
    const error = await loadInstallation('shipcheck.yaml').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'shipcheck.yaml:4:55: oncall.escalationPolicies[0].steps[0].targets[0].channel: no channel is named "ops-slack"; define it under channels:',
    ]);
    await writeFile(
      path.join(dir, 'shipcheck.yaml'),
      `services: [services/*.yaml]\nchannels: [{ name: ops-slack, type: slack, url: 'https://hooks.example.com/x' }]\n${GOOD.slice(GOOD.indexOf('oncall:'))}`,
    );
    const installation = await loadInstallation('shipcheck.yaml');
    expect(installation.oncall.schedules.map((s) => s.name)).toEqual(['primary']);
    expect(installation.services[0]?.config.oncall.escalationPolicies[0]?.name).toBe('default');
  });
});
