import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../util/net.js';
import { signalChildGroup } from '../../util/process-group.js';

/** Debian installs varnishd here, which a non-root PATH often lacks. */
const VARNISHD_DIRS = ['/usr/sbin', '/usr/local/sbin'];
/** VCL compilation takes a second or two. */
const START_TIMEOUT_MS = 20_000;
const POLL_MS = 100;
const STOP_GRACE_MS = 3000;

/** A Varnish cache the demo put in front of the service, to show the CDN purge. */
export interface DemoCache {
  url: string;
  stop(): Promise<void>;
}

/** The varnishd binary, or undefined when it is not installed. */
export function findVarnishd(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...VARNISHD_DIRS];
  return dirs.map((dir) => path.join(dir, 'varnishd')).find((file) => fs.existsSync(file));
}

/** Caches every 200 for five minutes and lets localhost PURGE a URL. */
function vcl(originPort: number): string {
  return `vcl 4.1;
backend origin { .host = "127.0.0.1"; .port = "${originPort}"; }
acl purgers { "127.0.0.1"; "::1"; }
sub vcl_recv {
  if (req.method == "PURGE") {
    if (client.ip !~ purgers) { return (synth(405, "Not allowed")); }
    return (purge);
  }
}
sub vcl_backend_response {
  if (beresp.status == 200) { set beresp.ttl = 5m; }
}
sub vcl_purge { return (synth(200, "Purged")); }
`;
}

/**
 * Starts Debian's varnishd in front of `originPort` with `vclText` (by default: cache 200s, let
 * localhost PURGE), or returns undefined when it is not installed (the demo then says the CDN part
 * was skipped). Its files live under `dir`; `stop()` ends every process that names them.
 */
export async function startVarnish(
  originPort: number,
  dir: string,
  vclText = vcl(originPort),
): Promise<DemoCache | undefined> {
  const varnishd = findVarnishd();
  if (!varnishd) return undefined;
  const vclFile = path.join(dir, 'cdn.vcl');
  const workDir = path.join(dir, 'varnish');
  fs.writeFileSync(vclFile, vclText);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // -j none: no privilege separation, so it runs as whoever runs the demo; -F keeps it in our hands.
  const args = ['-F', '-j', 'none', '-f', vclFile, '-a', `127.0.0.1:${port}`, '-n', workDir];
  // No management port to collide with another run, a small log nothing reads, few threads.
  args.push('-s', 'malloc,32m', '-T', 'none', '-l', '2m', '-p', 'thread_pools=1', '-p', 'thread_pool_min=5');
  const child: ChildProcess = spawn(varnishd, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    if (!signalChildGroup(child, 'SIGTERM')) return;
    const timer = setTimeout(() => signalChildGroup(child, 'SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
    // The worker may outlive the manager for a moment; anything naming our work folder is ours.
    const deadline = Date.now() + STOP_GRACE_MS;
    while (processesNaming(workDir).length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    for (const pid of processesNaming(workDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`varnishd exited: ${log.trim()}`);
    const ready = await fetch(`${url}/`).then(
      (r) => r.text().then(() => r.headers.has('x-varnish')),
      () => false,
    );
    if (ready) return { url, stop };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  await stop();
  throw new Error(`varnishd did not serve within ${START_TIMEOUT_MS / 1000}s: ${log.trim()}`);
}

/** Pids of the processes whose command line holds `marker` (varnishd's manager and its worker). */
export function processesNaming(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) pids.push(Number(entry));
    } catch {
      // It exited while we looked.
    }
  }
  return pids;
}
