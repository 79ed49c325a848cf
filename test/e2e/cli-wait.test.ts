import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, type CliResult, Scenario, startCommand, waitFor } from './harness.js';

/** Two sign-offs before anything starts: a release stops at the pre-deploy gate at once. */
const TEMPLATE = `name: e2e
items:
  - id: pre-deployment/application/prepare-rollback-plan
    section: Pre-Deployment / Application
    title: Prepare rollback plan
    kind: manual
    gate: pre-deploy
  - id: pre-deployment/communication/notify-stakeholders
    section: Pre-Deployment / Communication
    title: Notify stakeholders
    kind: manual
    gate: pre-deploy
`;
const ITEMS = [
  'pre-deployment/application/prepare-rollback-plan',
  'pre-deployment/communication/notify-stakeholders',
];
const HELD_AT_GATE = new RegExp(
  `release #\\d+ is waiting at the pre-deploy gate: 2 items to sign: ${ITEMS.join(', ')} — ` +
    'run "shipcheck checklist", then "shipcheck sign ITEM" or "shipcheck sign --gate"',
);
const STACK_TRACE = /\n\s+at /;

let scripts = 0;

/** Runs `script` with sh (or bash, for pipefail) in the scenario's folder, `shipcheck` on its PATH. */
function shell(s: Scenario, script: string, shellName = 'sh'): Promise<CliResult> {
  const file = path.join(s.dir, `script-${++scripts}.sh`);
  fs.writeFileSync(file, script);
  const PATH = [path.dirname(BIN), path.dirname(process.execPath), process.env.PATH].join(path.delimiter);
  return startCommand(shellName, [file], { cwd: s.dir, env: { ...s.cliEnv, PATH } }).result;
}

async function abortAndWait(s: Scenario): Promise<void> {
  const aborted = await s.cli('abort');
  expect(aborted.code, aborted.stderr).toBe(0);
  await s.waitForState('aborted');
}

describe('deploy --wait in a pipeline', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('says at once that a release waits for a person, and gives up with its own exit code', async () => {
    // Given a control plane whose checklist holds every release at the pre-deploy gate
    s = await Scenario.create({ extra: 'checklist:\n  template: checklist.yaml\n' });
    fs.writeFileSync(path.join(s.dir, 'checklist.yaml'), TEMPLATE);
    await s.up();

    // When a CI script deploys with --wait --timeout 2s
    const script = await shell(
      s,
      [
        'set -u',
        'shipcheck deploy v1 --wait --timeout 2s',
        'status=$?',
        'echo "deploy exited $status"',
        'exit $status',
        '',
      ].join('\n'),
    );

    // Then it says once what holds the release and what to do, then times out with 5; the release goes on
    expect(script.code, script.stderr).toBe(5);
    expect(script.stdout).toMatch(HELD_AT_GATE);
    expect(script.stdout.match(new RegExp(HELD_AT_GATE.source, 'g'))).toHaveLength(1);
    expect(script.stdout).toMatch(/deploy exited 5\n$/);
    expect(script.stderr).toMatch(
      /^timed out after 2s: release #1 is still waiting at the pre-deploy gate: 2 items to sign: .*; it goes on: follow it with "shipcheck status"\n$/,
    );
    expect((await s.status()).release).toMatchObject({ id: 1, state: 'waiting' });

    // When someone tries to promote past the gate, they are told why it cannot, not given success
    const promoted = await s.cli('promote');
    expect(promoted.code).not.toBe(0);
    expect(promoted.stderr).toMatch(/release #1 is waiting at the pre-deploy gate: 2 items to sign/);
    expect(promoted.stderr).not.toMatch(STACK_TRACE);
    await abortAndWait(s);

    // When a script asks to stop at the first hold, it gets 6 and the release as JSON on stdout
    const held = await s.cli('deploy', 'v2', '--until-held', '--json');
    expect(held.code, held.stderr).toBe(6);
    expect(held.stderr).toMatch(HELD_AT_GATE);
    expect(JSON.parse(held.stdout)).toMatchObject({ id: 2, version: 'v2', state: 'waiting' });

    // When the output is piped into head -1, the CLI stops quietly, however far it got
    for (const command of ['shipcheck checklist', 'shipcheck deploy v3 --wait']) {
      if (command.includes('deploy')) await abortAndWait(s);
      const piped = await shell(
        s,
        `set -o pipefail\n${command} 2>"$0.err" | head -1\nstatus=$?\ncat "$0.err" >&2\nexit $status\n`,
        'bash',
      );
      expect(piped.code, `${command}: ${piped.stderr}`).toBe(0);
      expect(piped.stderr).toBe('');
      expect(piped.stdout.split('\n')).toHaveLength(2);
    }
    await waitFor('v3 held', async () => (await s!.status()).release?.state === 'waiting');

    // When a person presses Ctrl-C on --wait, the wait ends (130) and the release goes on
    await abortAndWait(s);
    const waiting = startCommand(process.execPath, [BIN, 'deploy', 'v4', '--wait'], {
      cwd: s.dir,
      env: s.cliEnv,
    });
    await waitFor('the hold notice', () => HELD_AT_GATE.test(waiting.stdout()));
    process.kill(waiting.pid, 'SIGINT');
    const interrupted = await waiting.result;
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toBe(
      'release #4 goes on; follow it with "shipcheck status", or stop it with "shipcheck abort"\n',
    );
    expect((await s.status()).release).toMatchObject({ id: 4, state: 'waiting' });

    // When the gate is signed in one go, every item is listed and the release goes on
    const signed = await s.cli('sign', '--gate', '--note', 'runbook 12');
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.stdout).toMatch(/^signed 2 items at the pre-deploy gate:\n/);
    for (const id of ITEMS) expect(signed.stdout).toContain(`  ${id}  `);
    await s.waitForState('succeeded');
  });

  it('says when a release is paused, and --until-held returns there', async () => {
    // Given v1 stable, and a strategy that stops for promote at 20%
    s = await Scenario.create({ steps: '[{setWeight: 20}, {pause: {}}]' });
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);

    // When v2 is deployed until it is held
    const held = await s.cli('deploy', 'v2', '--until-held');

    // Then it stops at the pause with 6, saying how to go on
    expect(held.code, held.stderr).toBe(6);
    expect(held.stdout).toMatch(
      /release #2 is paused at canary step 2\/2 \(pause until promoted\), weight 20% \(waiting for promote at step 2\/2\): run "shipcheck resume" to go on, "shipcheck promote" to move to the next step, or "shipcheck abort" to roll back/,
    );
    expect((await s.cli('promote')).code).toBe(0);
    await s.waitForState('succeeded');
  });
});
