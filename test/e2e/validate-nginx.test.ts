import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NGINX_PATH, nginxConf } from '../support/nginx.js';
import { runCli } from './harness.js';

const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const HAS_NGINX = NGINX_PATH !== undefined;
if (!HAS_NGINX && !REQUIRE_REAL)
  console.warn('SKIPPING the validate tests behind nginx: nginx is not installed (apt-get install nginx)');
/** Any port: nginx -t does not listen. */
const PORT = 8080;
const LACKS_STATUS = `log_format shipcheck escape=json '{"remote_addr":"$remote_addr","upstream_addr":"$upstream_addr","request_time":"$request_time"}';`;

describe.runIf(HAS_NGINX || REQUIRE_REAL)('shipcheck validate behind nginx', () => {
  let dir = '';
  let file = '';
  beforeEach(() => {
    if (!HAS_NGINX) throw new Error('nginx is not installed, and SHIPCHECK_REQUIRE_REAL=1');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-validate-nginx-'));
    file = path.join(dir, 'shipcheck.yaml');
    fs.writeFileSync(path.join(dir, 'app.js'), '');
    fs.mkdirSync(path.join(dir, 'tmp'));
    fs.writeFileSync(path.join(dir, 'upstream.conf'), 'upstream app { server 127.0.0.1:9; }\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** shipcheck.yaml behind the nginx in `dir`, its metrics.accessLog value on line 10, column 14. */
  function writeConfig(options: { accessLog?: string; nginxConfig?: string } = {}): void {
    fs.writeFileSync(
      file,
      [
        'service: web',
        'fleet: { kind: local, command: ["node", "app.js"] }',
        'traffic:',
        '  kind: nginx',
        '  upstream: app',
        '  upstreamFile: upstream.conf',
        `  nginxConfig: ${options.nginxConfig ?? 'nginx.conf'}`,
        `  nginxBinary: ${NGINX_PATH}`,
        'metrics:',
        `  accessLog: ${options.accessLog ?? 'access.log'}`,
        '  kind: nginx-log',
        '',
      ].join('\n'),
    );
  }

  /** Writes nginx.conf as a user's nginx has it, and checks that nginx itself accepts it. */
  function writeNginx(logFormat?: string): string {
    const conf = path.join(dir, 'nginx.conf');
    fs.writeFileSync(conf, nginxConf(dir, PORT, { logFormat }));
    const test = spawnSync(NGINX_PATH!, ['-t', '-c', conf, '-p', dir], { encoding: 'utf8' });
    expect(test.status, test.stderr).toBe(0);
    return conf;
  }

  function lineOf(text: string, needle: string): number {
    return text.split('\n').findIndex((line) => line.includes(needle)) + 1;
  }

  it('passes a config whose nginx writes the access log with the recommended format', async () => {
    // Given nginx writing access.log with the recommended format
    writeNginx();
    writeConfig();
    // When the config is validated
    const result = await runCli(['validate', '-c', file]);
    // Then it is fine, without a warning
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/: ok \(service web/);
    expect(result.stderr).toBe('');
  });

  it('fails, at the log_format line, when the format lacks a field that metrics need', async () => {
    // Given nginx writing access.log in a JSON format without status
    const conf = writeNginx(LACKS_STATUS);
    writeConfig();
    // When the config is validated
    const result = await runCli(['validate', '-c', file]);
    // Then it exits 2, naming the line, the field and the format to add
    expect(result.code).toBe(2);
    const line = lineOf(fs.readFileSync(conf, 'utf8'), 'log_format');
    expect(result.stderr).toContain(
      `${conf}:${line}:3: log_format shipcheck has no "status" field (nor "upstream_status"), which shipcheck needs to count errors; add to nginx's http block: log_format shipcheck escape=json`,
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('fails at metrics.accessLog when nginx writes another file', async () => {
    writeNginx();
    writeConfig({ accessLog: 'elsewhere.log' });
    const result = await runCli(['validate', '-c', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `${file}:10:14: metrics.accessLog: no access_log directive in ${path.join(dir, 'nginx.conf')} or the files it includes writes ${path.join(dir, 'elsewhere.log')}`,
    );
  });

  it('warns, and passes, when it cannot read the nginx config', async () => {
    writeConfig({ nginxConfig: 'missing/nginx.conf' });
    const result = await runCli(['validate', '-c', file]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(
      `${file}:7:16: warning: traffic.nginxConfig: cannot read ${path.join(dir, 'missing/nginx.conf')} (no such file); the format of metrics.accessLog was not checked`,
    );
  });
});
