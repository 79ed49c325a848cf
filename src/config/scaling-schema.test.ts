import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from './loader.js';

describe('the scaling block', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'shipcheck-scaling-config-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function load(
    fleet: string,
    scaling: string,
  ): Promise<string | Awaited<ReturnType<typeof loadConfig>>> {
    const file = path.join(dir, 'shipcheck.yaml');
    await writeFile(file, `service: web\n${fleet}\nscaling:\n${scaling}\n`);
    try {
      return await loadConfig(file);
    } catch (err) {
      return (err as Error).message.replaceAll(file, 'shipcheck.yaml');
    }
  }
  const local = `fleet: { kind: local, command: ["${process.execPath}", "app.js"] }`;
  const hooks = `fleet:\n  kind: hooks\n  hooks: { start: "${process.execPath}", stop: "${process.execPath}", list: "${process.execPath}" }`;

  it('fills in the cooldown and interval', async () => {
    const loaded = await load(local, '  min: 2\n  max: 6\n  target: { rpsPerInstance: 50 }');
    if (typeof loaded === 'string') throw new Error(loaded);
    expect(loaded.config.scaling).toEqual({
      min: 2,
      max: 6,
      target: { rpsPerInstance: 50 },
      cooldown: 60_000,
      interval: 15_000,
    });
  });

  it('says when max is below min, at max', async () => {
    const message = await load(local, '  min: 4\n  max: 2\n  target: { cpuPercent: 60 }');
    expect(message).toMatch(/^shipcheck\.yaml:5:8: scaling\.max: at least scaling\.min/m);
  });

  it('takes one target, not both', async () => {
    const message = await load(local, '  min: 1\n  max: 2\n  target: { cpuPercent: 60, rpsPerInstance: 5 }');
    expect(message).toMatch(
      /^shipcheck\.yaml:6:11: scaling\.target: set one of rpsPerInstance or cpuPercent/m,
    );
  });

  it('refuses a CPU target on the hooks fleet, at its line', async () => {
    const message = await load(hooks, '  min: 1\n  max: 2\n  target:\n    cpuPercent: 60');
    expect(message).toMatch(/^shipcheck\.yaml:9:5: scaling\.target\.cpuPercent needs the local fleet/m);
    const rps = await load(hooks, '  min: 1\n  max: 2\n  target:\n    rpsPerInstance: 60');
    expect(typeof rps).not.toBe('string');
  });
});
