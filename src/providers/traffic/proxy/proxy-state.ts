/**
 * Where a unit's proxy process keeps its state file and control socket: `.shipcheck/proxy/`, a folder
 * only its owner may enter (0700), with the state file 0600. Reading and writing the state file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProviderError } from '../../../errors.js';
import type { ProxyState } from './control-protocol.js';

const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;
/** Unix socket paths are limited to 107 bytes on Linux; a longer one goes to a private folder in tmp. */
const MAX_SOCKET_PATH = 100;

/** The files of one unit's proxy process. */
export interface ProxyPaths {
  /** `.shipcheck/proxy/<unit>.json`: the ProxyState. */
  stateFile: string;
  /** `.shipcheck/proxy/<unit>.sock`, or a socket in a private folder under the system's tmp when that is too long. */
  socket: string;
  /** `.shipcheck/logs/proxy-<unit>.log`: the process's stdout and stderr. */
  logFile: string;
}

/** The paths of the proxy process named `unit` (a unit, maybe after a prefix) under `shipcheckDir`, the installation's `.shipcheck`. */
export function proxyPaths(shipcheckDir: string, unit: string): ProxyPaths {
  const name = unit.replace(/[^\w.-]/g, '_');
  const dir = path.join(shipcheckDir, 'proxy');
  let socket = path.join(dir, `${name}.sock`);
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    const digest = crypto.createHash('sha256').update(shipcheckDir).digest('hex').slice(0, 16);
    socket = path.join(os.tmpdir(), `shipcheck-${process.getuid?.() ?? 0}-${digest}`, `${name}.sock`);
  }
  return {
    stateFile: path.join(dir, `${name}.json`),
    socket,
    logFile: path.join(shipcheckDir, 'logs', `proxy-${name}.log`),
  };
}

/**
 * Creates `dir` as a folder only this user may enter, or checks that it is one: a control socket in a
 * folder others can write to could be swapped for theirs.
 */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
  const stat = fs.lstatSync(dir);
  const uid = process.getuid?.();
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) {
    throw new ProviderError(`${dir} must be a folder owned by this user, for the proxy's control socket`);
  }
  if ((stat.mode & 0o777) !== PRIVATE_DIR) fs.chmodSync(dir, PRIVATE_DIR);
}

/** Writes the state file (0600) in one step: a reader sees the old file or the new one, never half. */
export function writeProxyState(state: ProxyState): void {
  ensurePrivateDir(path.dirname(state.stateFile));
  const temporary = `${state.stateFile}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: PRIVATE_FILE });
  fs.renameSync(temporary, state.stateFile);
}

/** The state file's content, or undefined when there is none or it cannot be read as one. */
export function readProxyState(stateFile: string): ProxyState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(stateFile, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const state = JSON.parse(text) as Partial<ProxyState>;
    if (typeof state.pid !== 'number' || typeof state.startTime !== 'string') return undefined;
    if (typeof state.socket !== 'string' || typeof state.listen !== 'string') return undefined;
    return { ...state, protocol: state.protocol ?? 0 } as ProxyState;
  } catch {
    return undefined;
  }
}

/** Removes the state file when it still names `pid`: a newer process's file stays. */
export function removeProxyState(stateFile: string, pid: number): void {
  if (readProxyState(stateFile)?.pid !== pid) return;
  fs.rmSync(stateFile, { force: true });
}
