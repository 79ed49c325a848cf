import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { LOG_FORMAT } from '../../src/providers/metrics/nginx-log/nginx-log-source.js';
import { freePort } from '../../src/util/net.js';

/** The nginx binary tests use, if installed. */
export const NGINX_PATH =
  ['/usr/sbin/nginx', '/usr/local/sbin/nginx'].find((p) => fs.existsSync(p)) ??
  (spawnSync('nginx', ['-v']).status === 0 ? 'nginx' : undefined);

/** A user's nginx in a test folder: it includes the upstream file shipcheck owns and writes the JSON access log. */
export interface TestNginx {
  port: number;
  /** nginx.conf, for traffic.nginxConfig. */
  conf: string;
  upstreamFile: string;
  accessLog: string;
  stop(): Promise<void>;
}

/** What a test's nginx serves; by default everything goes to the upstream `name` in `dir/upstream.conf`. */
export interface NginxOptions {
  name?: string;
  /** Replaces the default `location / { proxy_pass http://NAME; ... }` of the one server block. */
  locations?: string;
  /** Replaces LOG_FORMAT: a `log_format shipcheck ...;` directive, as a user might have written it. */
  logFormat?: string;
  /** More directives for the `http` block, such as `upstream` blocks the locations proxy to. */
  http?: string;
}

/** nginx.conf listening on 127.0.0.1:PORT, including `dir/upstream.conf` and logging JSON to `dir/access.log`. */
export function nginxConf(dir: string, port: number, options: NginxOptions = {}): string {
  const name = options.name ?? 'app';
  const locations =
    options.locations ??
    `location / {
      proxy_pass http://${name};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout;
    }`;
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events { worker_connections 512; }
http {
  ${options.logFormat ?? LOG_FORMAT}
  access_log ${dir}/access.log shipcheck;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  include ${dir}/upstream.conf;
  ${options.http ?? ''}
  server {
    listen 127.0.0.1:${port};
    ${locations}
  }
}
`;
}

/** Starts nginx in `dir` on a free port and waits until it answers; `stop()` ends it by pid. */
export async function startNginx(dir: string, options: NginxOptions = {}): Promise<TestNginx> {
  const name = options.name ?? 'app';
  if (!NGINX_PATH) throw new Error('nginx is not installed (apt-get install nginx)');
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  // nginx's workers run as an unprivileged user: they reopen the access log here after a rotation.
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(conf, nginxConf(dir, port, options));
  // nginx needs the included file to exist before shipcheck first writes it.
  const upstreamFile = path.join(dir, 'upstream.conf');
  fs.writeFileSync(upstreamFile, `upstream ${name} { server 127.0.0.1:9 down; }\n`);
  const accessLog = path.join(dir, 'access.log');
  fs.writeFileSync(accessLog, '');
  const child: ChildProcess = spawn(NGINX_PATH, ['-c', conf, '-p', dir], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`nginx exited ${child.exitCode}; see ${dir}/nginx-error.log`);
    const up = await fetch(`http://127.0.0.1:${port}/`).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) throw new Error('nginx did not answer within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // nginx writes the line of that request just after the answer: wait for it, so that a test that
  // starts tailing the log now does not count it among its own requests.
  while (fs.statSync(accessLog).size === 0) {
    if (Date.now() > deadline) throw new Error('nginx did not log its first request within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    port,
    conf,
    upstreamFile,
    accessLog,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
