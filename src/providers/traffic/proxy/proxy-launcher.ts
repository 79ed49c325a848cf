/**
 * Starting and stopping the built-in proxy's own process: spawned detached (its own process group,
 * output to `.shipcheck/logs/proxy-<unit>.log`) so that it outlives the control plane, and stopped by
 * pid only once its start time shows it is still the process that was recorded.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProviderError } from '../../../errors.js';
import { formatDuration } from '../../../util/duration.js';
import { parseHostPort } from '../../../util/net.js';
import { signalGroup } from '../../../util/process-group.js';
import { lastLogLine, runMarkerLine } from '../../fleet/local/instance-log.js';
import { isSameProcess } from '../../fleet/local/process-identity.js';
import {
  PROXY_CONFIG_ENV,
  PROXY_FORCE_TOKEN_ENV,
  type ProxyProcessConfig,
  type ProxyState,
} from './control-protocol.js';
import type { ProxyPaths } from './proxy-state.js';
import { ensurePrivateDir, readProxyState } from './proxy-state.js';

/** How long a new proxy process may take to bind and write its state file. */
export const PROXY_START_TIMEOUT_MS = 15_000;
/** A stopping proxy lets requests in flight finish for up to 10s (ProxyRouter.close); then SIGKILL. */
export const PROXY_STOP_TIMEOUT_MS = 15_000;
const POLL_MS = 50;
const KILL_GRACE_MS = 2_000;
/** Environment passed on to the proxy process; it needs none of the control plane's secrets. */
const PASSED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'NODE_EXTRA_CA_CERTS'] as const;

/**
 * The compiled entry of the proxy process: beside this module when it runs from `dist/`, and under
 * `dist/` when it runs from source (tests), which `npm run build` writes first.
 */
export function proxyProcessEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const beside = path.join(path.dirname(here), 'proxy-process.js');
  if (here.endsWith('.js')) return beside;
  let root = path.dirname(here);
  while (!fs.existsSync(path.join(root, 'package.json')) && path.dirname(root) !== root)
    root = path.dirname(root);
  return path.join(root, 'dist', path.relative(root, beside));
}

/**
 * Spawns a proxy process for `config` and waits until it serves (its state file names it); rejects with
 * ProviderError quoting its log's last line when it exits first or does not come up in time.
 */
export async function launchProxy(
  config: ProxyProcessConfig,
  paths: ProxyPaths,
  options: { entry: string; cwd: string; startTimeoutMs?: number; forceToken?: string | undefined },
): Promise<ProxyState> {
  ensurePrivateDir(path.dirname(paths.stateFile));
  ensurePrivateDir(path.dirname(paths.socket));
  fs.mkdirSync(path.dirname(paths.logFile), { recursive: true });
  fs.rmSync(paths.stateFile, { force: true });
  const env: NodeJS.ProcessEnv = { [PROXY_CONFIG_ENV]: JSON.stringify(config) };
  for (const name of PASSED_ENV) if (process.env[name] !== undefined) env[name] = process.env[name];
  if (options.forceToken) env[PROXY_FORCE_TOKEN_ENV] = options.forceToken;
  const fd = fs.openSync(paths.logFile, 'a');
  let child;
  try {
    fs.writeSync(fd, runMarkerLine(`proxy of ${config.unit}`, parseHostPort(config.listen).port));
    // Detached: its own process group, so neither a Ctrl-C at the control plane's terminal nor the
    // control plane's death reaches it. Output goes to the file itself, not through a pipe we would own.
    child = spawn(process.execPath, [options.entry], {
      cwd: options.cwd,
      env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
  } finally {
    fs.closeSync(fd);
  }
  child.unref();
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = signal ?? `code ${code ?? 'unknown'}`));
  child.once('error', (err) => (exited = err.message));
  const timeoutMs = options.startTimeoutMs ?? PROXY_START_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const why = (what: string): ProviderError =>
    new ProviderError(
      `the proxy process of ${config.unit} (traffic.listen ${config.listen}) ${what}: ${lastLogLine(paths.logFile) ?? 'no output'}; see ${paths.logFile}`,
    );
  for (;;) {
    if (exited !== undefined) throw why(`exited (${exited}) before it served`);
    const state = readProxyState(paths.stateFile);
    if (state && state.pid === child.pid) return state;
    if (Date.now() >= deadline) {
      signalGroup(child.pid, 'SIGKILL');
      throw why(`did not serve within ${formatDuration(timeoutMs)}`);
    }
    await sleep(POLL_MS);
  }
}

/**
 * Stops the proxy process `pid` (when it is still the one started at `startTime`): SIGTERM, which lets
 * requests in flight finish, then SIGKILL after `timeoutMs`. Resolves once it is gone.
 */
export async function stopProxy(
  pid: number,
  startTime: string,
  timeoutMs = PROXY_STOP_TIMEOUT_MS,
): Promise<void> {
  if (!isSameProcess(pid, startTime)) return;
  if (!signalGroup(pid, 'SIGTERM')) return;
  if (await waitGone(pid, startTime, timeoutMs)) return;
  signalGroup(pid, 'SIGKILL');
  await waitGone(pid, startTime, KILL_GRACE_MS);
}

async function waitGone(pid: number, startTime: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isSameProcess(pid, startTime)) {
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
