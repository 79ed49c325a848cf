import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerSecret } from '../../../util/secrets.js';
import { LOG_TAIL_MAX_BYTES, lastLogLine, runEnd, runMarkerLine, tailLog } from './instance-log.js';

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

  it("explains a crash by its error, not by the runtime's closing banner, and tells a taken port", async () => {
    const crash = [
      'node:events:497',
      "      throw er; // Unhandled 'error' event",
      '      ^',
      '',
      'Error: listen EADDRINUSE: address already in use 127.0.0.1:41234',
      '    at Server.setupListenHandle [as _listen2] (node:net:1908:16)',
      "Emitted 'error' event on Server instance at:",
      "  code: 'EADDRINUSE',",
      '  port: 41234',
      '}',
      '',
      'Node.js v20.20.2',
      '',
    ].join('\n');
    const file = await log(`${runMarkerLine('web-v1-0', 41234)}listening soon\n${crash}`);
    expect(runEnd(file)).toEqual({
      line: 'Error: listen EADDRINUSE: address already in use 127.0.0.1:41234',
      portTaken: true,
    });
    const python = await log('OSError: [Errno 98] Address already in use\n');
    expect(runEnd(python)).toEqual({ line: 'OSError: [Errno 98] Address already in use', portTaken: true });
    // An earlier run's taken port is not this run's
    const earlier = await log(`${runMarkerLine('web-v1-0', 1)}${crash}${runMarkerLine('web-v1-0', 2)}bye\n`);
    expect(runEnd(earlier)).toEqual({ line: 'bye', portTaken: false });
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

  it("tails the current run's last lines, with secrets redacted, and says when there were more", async () => {
    registerSecret('hunter2-log-secret');
    const earlier = `${runMarkerLine('web-v1-0', 4001)}old 1\nold 2\n`;
    const current = `${runMarkerLine('web-v1-0', 4002)}one\ntwo\npassword=hunter2-log-secret\nfour`;
    const file = await log(`${earlier}${current}`);
    expect(tailLog(file, 50)).toEqual({ lines: ['one', 'two', 'password=***', 'four'], truncated: false });
    expect(tailLog(file, 2)).toEqual({ lines: ['password=***', 'four'], truncated: true });
    expect(tailLog(await log(runMarkerLine('web-v1-0', 4002)), 50)).toEqual({ lines: [], truncated: false });
  });

  it('reads no more than the end of a large log, and leaves out the line cut there', async () => {
    const line = `${'z'.repeat(99)}\n`;
    const lines = Math.ceil((3 * LOG_TAIL_MAX_BYTES) / line.length);
    const tail = tailLog(await log(`${runMarkerLine('web-v1-0', 4001)}${line.repeat(lines)}last\n`), 500);
    expect(tail?.truncated).toBe(true);
    expect(tail?.lines.at(-1)).toBe('last');
    expect(tail?.lines.slice(0, -1).every((l) => l === 'z'.repeat(99))).toBe(true);
    expect(tail!.lines.join('\n').length).toBeLessThanOrEqual(LOG_TAIL_MAX_BYTES);
  });

  it('tails nothing of a log that does not exist', () => {
    expect(tailLog(path.join(dir, 'absent.log'), 50)).toBeUndefined();
  });
});
