import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatBytes, resourcesCheck } from './resources.js';
import { contextFor } from '../../../test/support/check-context.js';

const GB = 1024 ** 3;
const HUGE = '1000000TB';

/** The soft open-files limit of this test process, read the way a person would with `ulimit -n`. */
async function softOpenFiles(): Promise<number> {
  const text = await fs.readFile('/proc/self/limits', 'utf8');
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  return soft === 'unlimited' ? Infinity : Number(soft);
}

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shipcheck-resources-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('resources params', () => {
  it('parses sizes as 1024-based bytes', () => {
    expect(resourcesCheck.params.parse({ minFreeDisk: '1GB', minFreeMemory: '500MB' })).toEqual({
      minFreeDisk: GB,
      minFreeMemory: 500 * 1024 ** 2,
    });
    expect(resourcesCheck.params.parse({ minFreeDisk: '1.5KB' }).minFreeDisk).toBe(1536);
    expect(resourcesCheck.params.safeParse({ minFreeDisk: '1gb' }).success).toBe(false);
    expect(resourcesCheck.params.parse({ minFreeDisk: '2 TB' }).minFreeDisk).toBe(2 * 1024 ** 4);
  });

  it('needs at least one bound and rejects sizes without a unit', () => {
    expect(resourcesCheck.params.safeParse({}).success).toBe(false);
    expect(resourcesCheck.params.safeParse({ path: 'data' }).success).toBe(false);
    const bare = resourcesCheck.params.safeParse({ minFreeDisk: 1024 });
    expect(bare.error?.issues[0]?.message).toMatch(/^expected a size such as 500MB or 1GB/);
    expect(resourcesCheck.params.safeParse({ minFreeDisk: '1PB' }).success).toBe(false);
    expect(resourcesCheck.params.safeParse({ minOpenFiles: 0 }).success).toBe(false);
    expect(resourcesCheck.params.safeParse({ minOpenFiles: 10, cpu: 2 }).success).toBe(false);
  });
});

describe('formatBytes', () => {
  it('uses the largest unit that fits, with one decimal', () => {
    expect(formatBytes(GB)).toBe('1 GB');
    expect(formatBytes(53.24 * GB)).toBe('53.2 GB');
    expect(formatBytes(512 * 1024 ** 2)).toBe('512 MB');
    expect(formatBytes(100)).toBe('100 B');
  });
});

describe('resources check', () => {
  it('passes modest bounds on this machine and keeps every figure', async () => {
    const params = resourcesCheck.params.parse({
      minFreeDisk: '1KB',
      minFreeMemory: '1KB',
      minOpenFiles: 16,
    });
    const result = await resourcesCheck.run(params, contextFor({ configDir: dir }));
    expect(result.ok).toBe(true);
    expect(result.summary).toMatch(
      /^disk [\d.]+ [KMGT]?B free >= 1 KB; memory [\d.]+ [KMGT]?B free >= 1 KB; open files (\d+|unlimited) >= 16$/,
    );
    expect(result.value).toBeUndefined();
    const data = result.data ?? {};
    expect(data.path).toBe(dir);
    expect(data.freeDiskBytes).toBeGreaterThan(0);
    expect(data.freeMemoryBytes).toBeGreaterThan(0);
    const limit = await softOpenFiles();
    expect(data.openFilesLimit).toBe(Number.isFinite(limit) ? limit : 'unlimited');
  });

  it('fails a disk bound larger than any disk, with the path and the figures', async () => {
    await fs.mkdir(path.join(dir, 'data'));
    const params = resourcesCheck.params.parse({ path: 'data', minFreeDisk: HUGE });
    const result = await resourcesCheck.run(params, contextFor({ configDir: dir }));
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(
      new RegExp(`^disk [\\d.]+ [KMGT]?B free < 1000000 TB at ${path.join(dir, 'data')}$`),
    );
    expect(result.value).toBe(result.data?.freeDiskBytes);
  });

  it('fails a memory bound larger than this machine has', async () => {
    const result = await resourcesCheck.run(
      resourcesCheck.params.parse({ minFreeMemory: HUGE }),
      contextFor({ configDir: dir }),
    );
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(/^memory [\d.]+ [KMGT]?B free < 1000000 TB$/);
  });

  it('fails an open-files bound above the soft limit and says how to fix it', async (ctx) => {
    const limit = await softOpenFiles();
    if (!Number.isFinite(limit)) ctx.skip(); // An unlimited soft limit cannot be exceeded.
    const params = resourcesCheck.params.parse({ minOpenFiles: limit + 1 });
    const result = await resourcesCheck.run(params, contextFor({ configDir: dir }));
    expect(result).toMatchObject({
      ok: false,
      value: limit,
      summary: `open files ${limit} < ${limit + 1} (raise ulimit -n for the control plane)`,
    });
  });

  it('fails when the disk path does not exist, naming it', async () => {
    const params = resourcesCheck.params.parse({ path: 'missing', minFreeDisk: '1KB', minFreeMemory: '1KB' });
    const result = await resourcesCheck.run(params, contextFor({ configDir: dir }));
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(
      new RegExp(
        `^cannot read free disk at ${path.join(dir, 'missing')}: ENOENT.*; memory [\\d.]+ [KMGT]?B free >= 1 KB$`,
      ),
    );
    expect(result.data?.diskError).toMatch(/ENOENT/);
    expect(result.value).toBeUndefined();
  });
});
