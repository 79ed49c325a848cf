/** Finding and stopping the built-in proxy's own processes that a test's `shipcheck up` left running. */
import fs from 'node:fs';
import path from 'node:path';
import { isSameProcess } from '../../src/providers/fleet/local/process-identity.js';
import { proxyPaths, readProxyState } from '../../src/providers/traffic/proxy/proxy-state.js';

/** The live proxy process of `unit` in the installation at `dir` (from its state file), if any. */
export function liveProxyProcess(dir: string, unit = 'web'): { pid: number; startTime: string } | undefined {
  const state = readProxyState(proxyPaths(path.join(dir, '.shipcheck'), unit).stateFile);
  if (!state || !isSameProcess(state.pid, state.startTime)) return undefined;
  return { pid: state.pid, startTime: state.startTime };
}

/** SIGKILLs every live proxy process of the installation at `dir`, by the pids its state files name. */
export function killProxyProcesses(dir: string): void {
  const stateDir = path.join(dir, '.shipcheck', 'proxy');
  if (!fs.existsSync(stateDir)) return;
  for (const name of fs.readdirSync(stateDir)) {
    if (!name.endsWith('.json')) continue;
    const live = liveProxyProcess(dir, name.slice(0, -'.json'.length));
    if (!live) continue;
    try {
      process.kill(live.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
