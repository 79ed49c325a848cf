/**
 * A real npm project for tests of the maintenance kinds: pinned old dependencies resolved by the real
 * registry into a package-lock.json (no install, no scripts), and a local stand-in for the registry's
 * advisory service where the registry in reach does not offer one.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Old versions with published advisories (minimist) and several major versions behind (semver). */
export const PINNED = { minimist: '0.0.8', semver: '5.7.2' } as const;

/** Why npm cannot be used here, or undefined when it can. */
export function npmMissing(): string | undefined {
  const probe = spawnSync('npm', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? undefined : 'npm is not installed (Debian: apt-get install -y npm)';
}

/** A temp folder with package.json pinning PINNED and the lock file npm resolved for it. */
export function createNpmProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-npm-'));
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'fixture', version: '1.0.0', private: true, dependencies: PINNED }, null, 2),
  );
  execFileSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 120_000,
  });
  return dir;
}

/** The registry npm uses here. */
export function npmRegistry(): string {
  return execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim().replace(/\/$/, '');
}

/** An advisory as the registry's bulk advisory endpoint returns it. */
export interface BulkAdvisory {
  id: number;
  url: string;
  title: string;
  severity: 'info' | 'low' | 'moderate' | 'high' | 'critical';
  vulnerable_versions: string;
  cwe: string[];
  cvss: { score: number; vectorString: string | null };
}

/**
 * minimist's two published prototype-pollution advisories: titles, severities and ranges as the GitHub
 * advisory database lists them; the numeric ids are the test's own.
 */
export const MINIMIST_ADVISORIES: BulkAdvisory[] = [
  {
    id: 1179,
    url: 'https://github.com/advisories/GHSA-vh95-rmgr-6w4m',
    title: 'Prototype Pollution in minimist',
    severity: 'moderate',
    vulnerable_versions: '<0.2.1',
    cwe: ['CWE-1321'],
    cvss: { score: 5.6, vectorString: null },
  },
  {
    id: 1096465,
    url: 'https://github.com/advisories/GHSA-xvch-5gv4-984h',
    title: 'Prototype Pollution in minimist',
    severity: 'critical',
    vulnerable_versions: '<0.2.4',
    cwe: ['CWE-1321'],
    cvss: { score: 9.8, vectorString: null },
  },
];

/**
 * A registry for `npm audit`: POST /-/npm/v1/security/advisories/bulk answers with `advisories()`;
 * every other request (the packuments npm audit reads) goes to `upstream`, the real registry. It
 * stands in only for the advisory service, which the registry mirror in reach here answers with 405.
 */
export async function startAdvisoryRegistry(
  upstream: string,
  advisories: () => Record<string, BulkAdvisory[]>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      void (async () => {
        try {
          if (req.method === 'POST' && req.url?.startsWith('/-/npm/v1/security/advisories/bulk')) {
            res.setHeader('content-type', 'application/json');
            res.end(JSON.stringify(advisories()));
            return;
          }
          const answer = await fetch(`${upstream}${req.url ?? '/'}`, {
            headers: { accept: req.headers.accept ?? 'application/json' },
          });
          res.statusCode = answer.status;
          res.setHeader('content-type', answer.headers.get('content-type') ?? 'application/json');
          res.end(Buffer.from(await answer.arrayBuffer()));
        } catch (err) {
          res.statusCode = 502;
          res.end(String(err));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Runs `body` with `vars` set in process.env (npm reads `npm_config_*` from there), then restores them. */
export async function withEnv<T>(vars: Record<string, string>, body: () => Promise<T>): Promise<T> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await body();
  } finally {
    for (const [key, value] of Object.entries(before)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}
