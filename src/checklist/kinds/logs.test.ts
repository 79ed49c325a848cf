import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Instance } from '../../providers/fleet/types.js';
import { logsCheck } from './logs.js';
import { contextFor } from '../../../test/support/check-context.js';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shipcheck-logs-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** An instance of v2 whose log is `name` in the temp dir (null: no log file at all). */
function instance(index: number, name: string | null = `web-v2-${index}.log`): Instance {
  return {
    id: `web-v2-${index}`,
    version: 'v2',
    index,
    address: `127.0.0.1:${4000 + index}`,
    pid: undefined,
    state: 'ready',
    healthFailures: 0,
    failedChecks: 0,
    restarts: 0,
    lastError: undefined,
    exitCode: undefined,
    logFile: name === null ? undefined : path.join(dir, name),
  };
}

/** Writes a log the way the local fleet does: a run marker line, then the app's output. */
async function writeLog(name: string, ...runs: string[][]): Promise<void> {
  const text = runs
    .map((lines, run) =>
      [`--- shipcheck: 2024-01-01T00:0${run}:00.000Z web-v2 on port 4000`, ...lines].join('\n'),
    )
    .join('\n');
  await fs.writeFile(path.join(dir, name), `${text}\n`);
}

function contextWith(instances: Instance[]) {
  return contextFor({ instances: (version) => instances.filter((i) => i.version === version) });
}

describe('logs params', () => {
  it('has defaults for every field', () => {
    expect(logsCheck.params.parse({})).toEqual({
      pattern: String.raw`\b(ERROR|FATAL|panic|Unhandled|uncaught)\b`,
      maxMatches: 0,
      sinceStart: true,
      lines: 20,
    });
  });

  it('rejects an invalid regex and unknown fields', () => {
    const bad = logsCheck.params.safeParse({ pattern: '(' });
    expect(bad.error?.issues[0]?.message).toBe('expected a valid regular expression');
    expect(logsCheck.params.safeParse({ maxMatches: -1 }).success).toBe(false);
    expect(logsCheck.params.safeParse({ file: 'x.log' }).success).toBe(false);
  });
});

describe('logs check', () => {
  it('passes clean logs', async () => {
    await writeLog('web-v2-0.log', ['listening on 4000', 'GET / 200']);
    await writeLog('web-v2-1.log', ['listening on 4001', 'no errors here, errors=0']);
    const result = await logsCheck.run(logsCheck.params.parse({}), contextWith([instance(0), instance(1)]));
    expect(result).toEqual({
      ok: true,
      summary: '0 error lines <= max 0 in 2 instances of v2 since start',
      value: 0,
      data: {
        version: 'v2',
        pattern: String.raw`\b(ERROR|FATAL|panic|Unhandled|uncaught)\b`,
        sinceStart: true,
        matches: { 'web-v2-0': 0, 'web-v2-1': 0 },
        unreadable: [],
      },
    });
  });

  it('fails on error lines, case-insensitively, prefixing each with its instance', async () => {
    await writeLog('web-v2-0.log', ['listening', 'Error: connect ECONNREFUSED 10.0.0.5:5432', 'GET / 500']);
    await writeLog('web-v2-1.log', [
      'listening',
      'UnhandledPromiseRejection is not a word match',
      'FATAL out of memory',
    ]);
    const result = await logsCheck.run(logsCheck.params.parse({}), contextWith([instance(0), instance(1)]));
    expect(result).toMatchObject({
      ok: false,
      value: 2,
      summary:
        '2 error lines > max 0 in 2 instances of v2 since start (web-v2-0: 1, web-v2-1: 1); ' +
        'first: web-v2-0: Error: connect ECONNREFUSED 10.0.0.5:5432',
      output: 'web-v2-0: Error: connect ECONNREFUSED 10.0.0.5:5432\nweb-v2-1: FATAL out of memory',
    });
  });

  it('only scans the latest run unless sinceStart is off', async () => {
    await writeLog('web-v2-0.log', ['ERROR old crash', 'panic: old'], ['listening', 'ok']);
    const context = contextWith([instance(0)]);
    const latest = await logsCheck.run(logsCheck.params.parse({}), context);
    expect(latest).toMatchObject({ ok: true, value: 0 });

    const whole = await logsCheck.run(logsCheck.params.parse({ sinceStart: false }), context);
    expect(whole).toMatchObject({
      ok: false,
      value: 2,
      output: 'web-v2-0: ERROR old crash\nweb-v2-0: panic: old',
    });
    expect(whole.summary).toMatch(/^2 error lines > max 0 in 1 instance of v2 \(web-v2-0: 2\)/);
  });

  it('allows up to maxMatches, honours a custom pattern and keeps at most `lines` as evidence', async () => {
    await writeLog('web-v2-0.log', ['WARN a', 'WARN b', 'info c', 'WARN d']);
    const context = contextWith([instance(0)]);
    const allowed = await logsCheck.run(
      logsCheck.params.parse({ pattern: '^warn', maxMatches: 3, lines: 2 }),
      context,
    );
    expect(allowed).toMatchObject({
      ok: true,
      value: 3,
      summary: '3 error lines <= max 3 in 1 instance of v2 since start',
      output: 'web-v2-0: WARN a\nweb-v2-0: WARN b',
    });
    const strict = await logsCheck.run(
      logsCheck.params.parse({ pattern: '^warn', maxMatches: 2, lines: 0 }),
      context,
    );
    expect(strict).toMatchObject({ ok: false, value: 3 });
    expect(strict.output).toBeUndefined();
    expect(strict.summary).toBe('3 error lines > max 2 in 1 instance of v2 since start (web-v2-0: 3)');
  });

  it('cuts very long lines in the evidence', async () => {
    await writeLog('web-v2-0.log', [`ERROR ${'x'.repeat(1000)}`]);
    const result = await logsCheck.run(logsCheck.params.parse({}), contextWith([instance(0)]));
    expect(result.output?.length).toBeLessThan(400);
    expect(result.output?.endsWith('…')).toBe(true);
  });

  it('fails naming a missing log file, and an instance without one', async () => {
    await writeLog('web-v2-0.log', ['ok']);
    const instances = [instance(0), instance(1), instance(2, null)];
    const result = await logsCheck.run(logsCheck.params.parse({}), contextWith(instances));
    expect(result).toMatchObject({
      ok: false,
      summary:
        `cannot scan logs of v2: web-v2-1: log file ${path.join(dir, 'web-v2-1.log')} not found; ` +
        'web-v2-2 has no log file',
    });
  });

  it('fails when the version has no instances to scan', async () => {
    const result = await logsCheck.run(logsCheck.params.parse({}), contextWith([]));
    expect(result).toEqual({ ok: false, summary: 'no instances of v2 to scan logs of' });
  });

  it('stops when the signal is aborted', async () => {
    await writeLog('web-v2-0.log', ['ERROR a']);
    const controller = new AbortController();
    controller.abort();
    const context = contextFor({ instances: () => [instance(0)], signal: controller.signal });
    const result = await logsCheck.run(logsCheck.params.parse({}), context);
    expect(result).toMatchObject({ ok: false, summary: 'log scan of v2 aborted' });
  });
});
