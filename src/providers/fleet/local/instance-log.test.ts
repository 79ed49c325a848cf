import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lastLogLine, runMarkerLine } from './instance-log.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'shipcheck-instance-log-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function log(text: string): Promise<string> {
  const file = path.join(dir, 'web-v1-0.log');
  await writeFile(file, text);
  return file;
}

describe('an instance log', () => {
  it("gives the current run's last line, never an earlier run's", async () => {
    const earlier = `${runMarkerLine('web-v1-0', 4001)}listening\nerror: old crash\n`;
    const current = `${runMarkerLine('web-v1-0', 4002)}starting\n  Error: EADDRINUSE  \n\n`;
    expect(lastLogLine(await log(`${earlier}${current}`))).toBe('Error: EADDRINUSE');
    expect(lastLogLine(await log(`${earlier}${runMarkerLine('web-v1-0', 4002)}`))).toBeUndefined();
  });

  it('names the instance and port in the marker', () => {
    expect(runMarkerLine('web-v1-0', 4001)).toMatch(/^--- shipcheck: \S+ web-v1-0 on port 4001\n$/);
  });

  it('skips a line cut by the tail it reads, and shortens a runaway line', async () => {
    const cut = `${'x'.repeat(10_000)}\nlast words\n`;
    expect(lastLogLine(await log(cut))).toBe('last words');
    const runaway = `${runMarkerLine('web-v1-0', 4001)}${'y'.repeat(1000)}\n`;
    expect(lastLogLine(await log(runaway))).toBe(`${'y'.repeat(300)}…`);
  });

  it('gives nothing for a log that does not exist', () => {
    expect(lastLogLine(path.join(dir, 'absent.log'))).toBeUndefined();
  });
});
