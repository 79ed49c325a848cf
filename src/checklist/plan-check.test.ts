import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { validateCommand } from '../cli/commands/validate.js';
import { ConfigError } from '../errors.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function write(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-plan-'));
  dirs.push(dir);
  const file = path.join(dir, 'shipcheck.yaml');
  fs.writeFileSync(file, text);
  return file;
}

const BASE = `service: web
fleet:
  kind: local
  command: ['node', 'server.js']
checklist:
  template: default
rollback:
  triggers:
    - { metric: error_rate, above: 5%, for: 5m }
    - { metric: latency_p99, above: 2s }
    - { health: failed }
`;

describe('shipcheck validate runs the checklist plan items', () => {
  it('reports a strategy without the 10% and 50% steps at strategy.steps, before any release', async () => {
    const file = write(`${BASE}strategy:\n  steps:\n    - setWeight: 25\n    - pause: 1m\n`);
    const error = await validateCommand({ config: file }, { out: () => undefined }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toContain(
      `${file}:13:3: checklist item "deployment/process/gradual-rollout" would fail at the pre-deploy gate: ` +
        'the strategy never sets 10%, 50% (it goes 25% -> 100%); add {setWeight: 10} to strategy.steps, or drop this item with a reason',
    );
    expect(problems.every((p) => p.startsWith(`${file}:13:3:`))).toBe(true);
  });

  it('reports a missing rollback trigger at rollback.triggers', async () => {
    const file = write(BASE.replace('    - { health: failed }\n', ''));
    const error = await validateCommand({ config: file }, { out: () => undefined }).catch((e: unknown) => e);
    expect((error as ConfigError).problems).toEqual([
      `${file}:8:3: checklist item "rollback-plan/automated-rollback-triggers/failed-health-checks" would fail at the pre-deploy gate: ` +
        'rollback.triggers lacks {health: failed}; add it to roll back on failed health checks',
    ]);
  });

  it('passes a plan that has every step and trigger the checklist asks for', async () => {
    const lines: string[] = [];
    await expect(validateCommand({ config: write(BASE) }, { out: (l) => lines.push(l) })).resolves.toBe(0);
    expect(lines[0]).toMatch(/: ok \(service web, 4 steps, 3 triggers, 75 checklist items\)$/);
  });
});
