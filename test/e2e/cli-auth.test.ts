import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RECOVERY_CODE_COUNT } from '../../src/security/recovery-codes.js';
import { keyFileOf } from '../../src/security/security.js';
import { TOTP_PERIOD_SECONDS, totpCode, totpStep } from '../../src/security/totp.js';
import { BIN, type CliResult, type RunningCommand, Scenario, startCommand, waitFor } from './harness.js';

const ADMIN_PASSWORD = 'admin password 1234';
const BOB_PASSWORD = 'bob password 12345';
const CAROL_PASSWORD = 'carol password 1234';
const STEP_MS = TOTP_PERIOD_SECONDS * 1000;
/** A code one step behind is only used while this much of the current step is left. */
const STEP_MARGIN_MS = 3000;

let scenario: Scenario;
let server: RunningCommand | undefined;

/** Runs the CLI against the scenario's config, with SHIPCHECK_TOKEN only when `token` is given. */
function shipcheck(args: string[], options: { token?: string; input?: string } = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, SHIPCHECK_URL: scenario.apiUrl };
  delete env.SHIPCHECK_TOKEN;
  delete env.SHIPCHECK_OTP;
  delete env.SHIPCHECK_MASTER_KEY;
  delete env.SHIPCHECK_MASTER_KEY_PREVIOUS;
  if (options.token !== undefined) env.SHIPCHECK_TOKEN = options.token;
  const child = spawn(process.execPath, [BIN, ...args, '-c', scenario.file], {
    cwd: scenario.dir,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(options.input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Starts `shipcheck up` on the scenario and waits until its API answers. */
async function startServer(): Promise<void> {
  const running = startCommand(process.execPath, [BIN, 'up', '-c', scenario.file], { cwd: scenario.dir });
  server = running;
  await waitFor(`shipcheck up at ${scenario.apiUrl}`, () =>
    fetch(`${scenario.apiUrl}/healthz`).then(
      (r) => r.ok,
      () => false,
    ),
  );
}

/** Stops the server this file started, by its pid, and waits for it to exit. */
async function stopServer(): Promise<void> {
  const running = server;
  if (!running) return;
  server = undefined;
  process.kill(running.pid, 'SIGTERM');
  await running.result;
}

/** A token for `name`, made by logging in with `password` (and `otp`). */
async function tokenFor(name: string, password: string, otp?: string): Promise<string> {
  const result = await shipcheck(
    [
      'token',
      'create',
      '--name',
      `${name}-cli`,
      '--login',
      name,
      '--password-stdin',
      ...(otp ? ['--otp', otp] : []),
    ],
    { input: `${password}\n` },
  );
  expect(result.stderr).toMatch(/shown once/);
  expect(result.code).toBe(0);
  return result.stdout.trim();
}

let lastTotpStep = 0;
/**
 * A TOTP code the server accepts now and has not seen: of a step newer than the last one used, within
 * one step of the current one. Waits for the next step when all of those are used.
 */
async function nextTotpCode(secret: string): Promise<string> {
  for (;;) {
    const now = Date.now();
    const current = totpStep(now);
    const leftInStep = (current + 1) * STEP_MS - now;
    const earliest = leftInStep > STEP_MARGIN_MS ? current - 1 : current;
    const step = Math.max(lastTotpStep + 1, earliest);
    if (step <= current + 1) {
      lastTotpStep = step;
      return totpCode({ secret, now: step * STEP_MS });
    }
    await new Promise((resolve) => setTimeout(resolve, leftInStep + 50));
  }
}

beforeAll(async () => {
  scenario = await Scenario.create({ instances: 1 });
});

afterAll(async () => {
  await stopServer();
  await scenario.cleanup();
});

describe('authentication from the command line', () => {
  let adminToken = '';
  let bobToken = '';

  it('given a fresh store, user add --admin --offline makes the first admin, and refuses the name twice', async () => {
    const added = await shipcheck(['user', 'add', 'admin', '--admin', '--offline', '--password-stdin'], {
      input: `${ADMIN_PASSWORD}\n`,
    });
    expect(added.stderr).toBe('');
    expect(added.stdout).toContain('added user admin (admin)');
    expect(added.code).toBe(0);

    const again = await shipcheck(['user', 'add', 'admin', '--admin', '--offline', '--password-stdin'], {
      input: `${ADMIN_PASSWORD}\n`,
    });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/a user named "admin" already exists/);

    const noPassword = await shipcheck(['user', 'add', 'eve', '--role', 'viewer', '--offline']);
    expect(noPassword.code).toBe(2);
    expect(noPassword.stderr).toMatch(/--password-stdin/);

    const listed = await shipcheck(['user', 'list', '--offline', '--json']);
    expect(JSON.parse(listed.stdout)).toMatchObject({
      users: [{ name: 'admin', roles: ['admin'], mfa: false, disabled: false }],
    });
    await startServer();
  });

  it('when the admin logs in with token create, then the token alone is printed and opens the API', async () => {
    const created = await shipcheck(
      ['token', 'create', '--name', 'ci', '--login', 'admin', '--password-stdin'],
      {
        input: `${ADMIN_PASSWORD}\n`,
      },
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^shc_[A-Za-z0-9_-]+\n$/);
    expect(created.stderr).toMatch(/shown once and cannot be shown again; it expires \d{4}-\d\d-\d\d/);
    adminToken = created.stdout.trim();

    const status = await shipcheck(['status'], { token: adminToken });
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);

    const anonymous = await shipcheck(['status']);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/log in, or send an API token/);

    const wrongPassword = await shipcheck(
      ['token', 'create', '--name', 'x', '--login', 'admin', '--password-stdin'],
      {
        input: 'not the password at all\n',
      },
    );
    expect(wrongPassword.code).toBe(1);
    expect(wrongPassword.stderr).toMatch(/wrong name, password or code/);
  });

  it('given a viewer added through the API, their token reads but cannot deploy', async () => {
    const added = await shipcheck(
      ['user', 'add', 'bob', '--role', 'viewer', '--group', 'sre', '--password-stdin'],
      {
        token: adminToken,
        input: `${BOB_PASSWORD}\n`,
      },
    );
    expect(added.stdout).toContain('added user bob (viewer)');
    expect(added.code).toBe(0);

    bobToken = await tokenFor('bob', BOB_PASSWORD);
    expect((await shipcheck(['status'], { token: bobToken })).code).toBe(0);
    const deploy = await shipcheck(['deploy', 'v2'], { token: bobToken });
    expect(deploy.code).toBe(1);
    expect(deploy.stderr).toMatch(/bob may not do this: it needs the deployer role/);

    const list = await shipcheck(['user', 'list'], { token: adminToken });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+ROLES\s+GROUPS\s+MFA\s+STATE\s+SOURCE$/m);
    expect(list.stdout).toMatch(/^bob\s+viewer\s+sre\s+no\s+active\s+local$/m);
  });

  it('when a token is revoked, or its user disabled, then it is refused', async () => {
    const mine = await shipcheck(['token', 'list', '--json'], { token: bobToken });
    const { tokens } = JSON.parse(mine.stdout) as { tokens: { id: string; name: string; user: string }[] };
    expect(tokens).toHaveLength(1);
    expect(tokens[0]).toMatchObject({ name: 'bob-cli', user: 'bob', role: 'viewer' });
    expect(bobToken.startsWith(tokens[0]!.id)).toBe(true);

    const all = await shipcheck(['token', 'list', '--all'], { token: adminToken });
    expect(all.stdout).toMatch(/^ID\s+NAME\s+USER\s+ROLE/m);
    expect(all.stdout).toMatch(new RegExp(`^${tokens[0]!.id}\\s+bob-cli\\s+bob\\s+viewer\\s.*active$`, 'm'));

    const revoked = await shipcheck(['token', 'revoke', tokens[0]!.id], { token: adminToken });
    expect(revoked.stdout).toContain(`revoked token ${tokens[0]!.id} (bob-cli)`);
    expect(revoked.code).toBe(0);
    const refused = await shipcheck(['status'], { token: bobToken });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/the token is not valid: it is wrong, revoked or expired/);

    bobToken = await tokenFor('bob', BOB_PASSWORD);
    expect((await shipcheck(['status'], { token: bobToken })).code).toBe(0);
    const disabled = await shipcheck(['user', 'disable', 'bob'], { token: adminToken });
    expect(disabled.stdout).toContain('disabled user bob');
    const afterDisable = await shipcheck(['status'], { token: bobToken });
    expect(afterDisable.code).toBe(1);
    expect(afterDisable.stderr).toMatch(/the token is not valid/);
    const list = await shipcheck(['user', 'list'], { token: adminToken });
    expect(list.stdout).toMatch(/^bob\s+viewer\s+sre\s+no\s+disabled\s+local$/m);
  });

  it('when one row of the audit log is edited, then audit verify fails naming it, and an export made before still verifies', async () => {
    const intact = await shipcheck(['audit', 'verify'], { token: adminToken });
    expect(intact.stdout).toMatch(/the audit log is intact: \d+ entries/);
    expect(intact.code).toBe(0);

    const file = path.join(scenario.dir, 'audit.jsonl');
    const exported = await shipcheck(['audit', 'export', '--out', file], { token: adminToken });
    expect(exported.code).toBe(0);
    expect(exported.stderr).toMatch(/exported \d+ entries \(1–\d+\) to /);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({
      seq: 1,
      actor: expect.stringMatching(/^offline:/),
      action: 'user.add',
    });
    expect(lines.some((line) => (JSON.parse(line) as { action: string }).action === 'user.disable')).toBe(
      true,
    );
    const fileOk = await shipcheck(['audit', 'verify', '--file', file]);
    expect(fileOk.stdout).toMatch(/is intact/);
    expect(fileOk.code).toBe(0);

    const db = new BetterSqlite3(path.join(scenario.dir, '.shipcheck', 'state.db'));
    try {
      db.prepare(`UPDATE audit_log SET actor = 'x' WHERE seq = 3`).run();
    } finally {
      db.close();
    }

    for (const args of [
      ['audit', 'verify'],
      ['audit', 'verify', '--offline'],
    ]) {
      const broken = await shipcheck(args, { token: adminToken });
      expect(broken.code, args.join(' ')).toBe(1);
      expect(broken.stderr).toMatch(/does not verify: entry 3 was edited/);
    }
    const tampered = path.join(scenario.dir, 'tampered.jsonl');
    expect((await shipcheck(['audit', 'export', '--out', tampered], { token: adminToken })).code).toBe(0);
    const fileBroken = await shipcheck(['audit', 'verify', '--file', tampered]);
    expect(fileBroken.code).toBe(1);
    expect(fileBroken.stderr).toMatch(/entry 3 was edited/);
    expect((await shipcheck(['audit', 'verify', '--file', file])).code).toBe(0);
  });

  it('archives old entries to a file only when the file continues the chain, and the log goes on from there', async () => {
    const refused = path.join(scenario.dir, 'refused.jsonl');
    const broken = await shipcheck(['audit', 'archive', '--before', String(Date.now()), '--out', refused], {
      token: adminToken,
    });
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/does not verify \(entry 3 was edited.*nothing was dropped/);

    // Put entry 3 back as it was (the export made before the edit still has it).
    const original = fs
      .readFileSync(path.join(scenario.dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { seq: number; actor: string })
      .find((entry) => entry.seq === 3)!;
    const db = new BetterSqlite3(path.join(scenario.dir, '.shipcheck', 'state.db'));
    try {
      db.prepare('UPDATE audit_log SET actor = ? WHERE seq = 3').run(original.actor);
    } finally {
      db.close();
    }

    const first = path.join(scenario.dir, 'archive-1.jsonl');
    const archived = await shipcheck(['audit', 'archive', '--before', String(Date.now()), '--out', first], {
      token: adminToken,
    });
    expect(archived.stderr + archived.stdout).toMatch(/archived entries 1–(\d+) to /);
    expect(archived.code).toBe(0);
    const through = Number(/archived entries 1–(\d+)/.exec(archived.stdout)![1]);
    expect(fs.statSync(first).mode & 0o777).toBe(0o600);
    expect((await shipcheck(['audit', 'verify', '--file', first])).code).toBe(0);
    const live = await shipcheck(['audit', 'verify'], { token: adminToken });
    expect(live.stdout).toMatch(/is intact/);
    const rest = await shipcheck(['audit', 'export'], { token: adminToken });
    expect((JSON.parse(rest.stdout.split('\n')[0]!) as { seq: number; action: string }).seq).toBe(
      through + 1,
    );
    expect(rest.stdout).toContain('"action":"audit.archive"');

    // The next archive continues from the first.
    const second = path.join(scenario.dir, 'archive-2.jsonl');
    const again = await shipcheck(['audit', 'archive', '--before', String(Date.now()), '--out', second], {
      token: adminToken,
    });
    expect(again.stdout).toMatch(new RegExp(`archived entries ${through + 1}–`));
    expect((await shipcheck(['audit', 'verify'], { token: adminToken })).code).toBe(0);
  });

  it('an admin changes roles and lets a user back in, online or offline', async () => {
    const roles = await shipcheck(
      ['user', 'roles', 'bob', '--role', 'deployer@staging', '--role', 'viewer'],
      {
        token: adminToken,
      },
    );
    expect(roles.stdout).toContain('set the roles of user bob: deployer@staging, viewer; groups sre');
    expect((await shipcheck(['user', 'enable', 'bob'], { token: adminToken })).code).toBe(0);
    const unlocked = await shipcheck(['user', 'unlock', 'bob', '--offline', '--json']);
    expect(JSON.parse(unlocked.stdout)).toMatchObject({
      user: { name: 'bob', roles: ['deployer@staging', 'viewer'], disabled: false, lockedUntil: null },
    });

    const reset = await shipcheck(['user', 'reset-password', 'bob', '--offline', '--password-stdin'], {
      input: 'a brand new password\n',
    });
    expect(reset.stdout).toContain('set a new password for user bob');
    expect(await tokenFor('bob', 'a brand new password')).toMatch(/^shc_/);
    const refused = await shipcheck(
      ['token', 'create', '--name', 'x', '--login', 'bob', '--password-stdin'],
      {
        input: `${BOB_PASSWORD}\n`,
      },
    );
    expect(refused.code).toBe(1);

    const missing = await shipcheck(['user', 'disable', 'nobody', '--offline']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no user "nobody"/);
  });

  it('given a user with TOTP, when the master key is rotated, then their MFA login still works, until an admin resets it', async () => {
    const added = await shipcheck(['user', 'add', 'carol', '--role', 'deployer', '--password-stdin'], {
      token: adminToken,
      input: `${CAROL_PASSWORD}\n`,
    });
    expect(added.code).toBe(0);
    const carolToken = await tokenFor('carol', CAROL_PASSWORD);
    const enrolled = await shipcheck(['mfa', 'enrol', '--json'], { token: carolToken });
    expect(enrolled.code).toBe(0);
    const { secret, uri } = JSON.parse(enrolled.stdout) as { secret: string; uri: string };
    expect(uri).toMatch(/^otpauth:\/\/totp\/shipcheck:carol\?secret=/);
    const confirmed = await shipcheck(['mfa', 'confirm', await nextTotpCode(secret)], { token: carolToken });
    expect(confirmed.code).toBe(0);
    expect(confirmed.stdout.trim().split('\n')).toHaveLength(DEFAULT_RECOVERY_CODE_COUNT);
    expect(confirmed.stderr).toMatch(/shown once/);

    const withoutCode = await shipcheck(
      ['token', 'create', '--name', 'x', '--login', 'carol', '--password-stdin'],
      {
        input: `${CAROL_PASSWORD}\n`,
      },
    );
    expect(withoutCode.code).toBe(1);
    expect(withoutCode.stderr).toMatch(/wrong name, password or code/);
    expect(await tokenFor('carol', CAROL_PASSWORD, await nextTotpCode(secret))).toMatch(/^shc_/);

    const keyFile = keyFileOf(scenario.dir);
    const keyIds = (): string[] =>
      (JSON.parse(fs.readFileSync(keyFile, 'utf8')) as { keys: { id: string }[] }).keys.map((k) => k.id);
    const [oldKey] = keyIds();
    // With the server running: it reads the key file again when it meets the new key.
    const rotated = await shipcheck(['keys', 'rotate']);
    expect(rotated.stderr).toMatch(/no restart is needed/);
    expect(rotated.code).toBe(0);
    const [, newKey] = keyIds();
    expect(newKey).toBeDefined();
    expect(keyIds()).toEqual([oldKey, newKey]);
    expect(rotated.stdout).toContain(`new master key ${newKey}`);
    expect(rotated.stdout).toContain(`re-sealed 1 TOTP secret with key ${newKey}: carol`);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    const db = new BetterSqlite3(path.join(scenario.dir, '.shipcheck', 'state.db'), { readonly: true });
    try {
      const row = db.prepare(`SELECT totp_secret FROM users WHERE name = 'carol'`).get() as {
        totp_secret: string;
      };
      expect(row.totp_secret.startsWith(`v1.${newKey}.`)).toBe(true);
    } finally {
      db.close();
    }

    expect(await tokenFor('carol', CAROL_PASSWORD, await nextTotpCode(secret))).toMatch(/^shc_/);

    const resetMfa = await shipcheck(['user', 'reset-mfa', 'carol'], { token: adminToken });
    expect(resetMfa.stdout).toContain('removed TOTP and recovery codes of user carol');
    expect(await tokenFor('carol', CAROL_PASSWORD)).toMatch(/^shc_/);
    const recorded = await shipcheck(['audit', 'export', '--offline', '--action', 'keys.rotate']);
    expect(JSON.parse(recorded.stdout)).toMatchObject({
      actor: expect.stringMatching(/^offline:/),
      result: 'ok',
      data: { key: newKey, resealed: ['carol'] },
    });
  });
});
