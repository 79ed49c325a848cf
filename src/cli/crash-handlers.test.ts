/**
 * The crash handlers `shipcheck up` installs. An unhandled rejection cannot be provoked honestly in
 * the real control plane (every path it knows of is handled), so each test runs a small script in a
 * child node process that installs the handlers from the built dist/ and then fails the way a bug
 * would: the process must log the error with its cause and exit 1.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../test/e2e/harness.js';

/** One JSON log line of pino, as far as these tests read it. */
interface LogLine {
  level: number;
  msg: string;
  err?: { type: string; message: string; stack: string };
}

const PINO_FATAL = 60;

/** Runs `body` after installing the crash handlers with a JSON logger; resolves with the exit code and log. */
function runWithHandlers(
  body: string,
): Promise<{ code: number | null; lines: LogLine[]; stdout: string; stderr: string }> {
  const dist = (file: string): string => pathToFileURL(path.join(ROOT, 'dist', 'src', file)).href;
  const script = `
import { installCrashHandlers } from ${JSON.stringify(dist('cli/crash-handlers.js'))};
import { createLogger } from ${JSON.stringify(dist('logger.js'))};
installCrashHandlers(createLogger({ pretty: false }));
${body}
`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code,
        stdout,
        stderr,
        lines: stdout
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as LogLine),
      }),
    );
  });
}

describe('installCrashHandlers', () => {
  it('logs an unhandled rejection with its cause and exits 1', async () => {
    const { code, lines, stdout, stderr } = await runWithHandlers(`
Promise.reject(new Error('store write failed', { cause: new Error('disk full') }));
setTimeout(() => console.log('STILL RUNNING'), 5000);
`);
    expect(code, stderr).toBe(1);
    const fatal = lines.find((line) => line.level === PINO_FATAL);
    expect(fatal?.msg).toMatch(/^unhandled rejection: store write failed; exiting 1/);
    expect(fatal?.err?.message).toContain('store write failed');
    // pino's error serializer keeps the cause chain in the stack it logs.
    expect(fatal?.err?.stack).toContain('disk full');
    expect(stdout).not.toContain('STILL RUNNING');
  });

  it('logs an uncaught exception and exits 1', async () => {
    const { code, lines, stdout, stderr } = await runWithHandlers(`
setTimeout(() => { throw new TypeError('cannot read properties of undefined'); }, 0);
setTimeout(() => console.log('STILL RUNNING'), 5000);
`);
    expect(code, stderr).toBe(1);
    const fatal = lines.find((line) => line.level === PINO_FATAL);
    expect(fatal?.msg).toMatch(/^uncaught exception: cannot read properties of undefined; exiting 1/);
    expect(fatal?.err?.type).toBe('TypeError');
    expect(stdout).not.toContain('STILL RUNNING');
  });
});
