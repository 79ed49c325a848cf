import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOG_FORMAT } from './access-log-line.js';
import { checkAccessLogFormat, type LogFormatFinding } from './log-format-check.js';

describe('checkAccessLogFormat', () => {
  let dir = '';
  let conf = '';
  let accessLog = '';
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'shipcheck-log-format-'));
    conf = path.join(dir, 'nginx.conf');
    accessLog = path.join(dir, 'access.log');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes nginx.conf with `lines` in its http block, the first of them on line 3. */
  function nginxConf(...lines: string[]): void {
    writeFileSync(conf, ['events {}', 'http {', ...lines.map((l) => `  ${l}`), '}', ''].join('\n'));
  }

  function check(mayBeMissing: string[] = []): Promise<LogFormatFinding[]> {
    return checkAccessLogFormat({ nginxConfig: conf, accessLog, mayBeMissing });
  }

  it('accepts the recommended format, and the one people copy with upstream fields added', async () => {
    nginxConf(LOG_FORMAT, `access_log ${accessLog} shipcheck;`);
    expect(await check()).toEqual([]);
    nginxConf(
      'log_format json_combined escape=json',
      `  '{"time_local":"$time_local","remote_addr":"$remote_addr","request":"$request",'`,
      `  '"status": "$status","request_time":"$request_time","http_user_agent":"$http_user_agent",'`,
      `  '"upstream_addr":"$upstream_addr"}';`,
      `access_log ${accessLog} json_combined buffer=32k flush=1s;`,
    );
    expect(await check()).toEqual([]);
  });

  it('names each field the format lacks, at the log_format line', async () => {
    nginxConf(
      `log_format main escape=json '{"remote_addr":"$remote_addr","upstream_addr":"$upstream_addr"}';`,
      `access_log ${accessLog} main;`,
    );
    const findings = await check();
    expect(findings.map((f) => [f.severity, f.at])).toEqual([
      ['error', { file: conf, line: 3, col: 3 }],
      ['error', { file: conf, line: 3, col: 3 }],
    ]);
    expect(findings[0]?.message).toMatch(
      /^log_format main has no "status" field \(nor "upstream_status"\), which shipcheck needs to count errors; add to nginx's http block: log_format shipcheck/,
    );
    expect(findings[0]?.message).toContain(`access_log ${accessLog} shipcheck;`);
    expect(findings[1]?.message).toMatch(/no "request_time" field \(nor "upstream_response_time"\).*latency/);
  });

  it('wants upstream_addr, which tells the versions apart', async () => {
    nginxConf(
      `log_format main escape=json '{"status":"$status","request_time":"$request_time"}';`,
      `access_log ${accessLog} main;`,
    );
    expect((await check()).map((f) => f.message)).toEqual([
      expect.stringMatching(/no "upstream_addr" field, which shipcheck needs to tell which version answered/),
    ]);
  });

  it('refuses the combined format, a format that is not JSON, and one that is not defined', async () => {
    nginxConf(`access_log ${accessLog};`);
    expect(await check()).toEqual([
      expect.objectContaining({
        severity: 'error',
        at: { file: conf, line: 3, col: 3 },
        message: expect.stringMatching(/uses nginx's "combined" format, which is not JSON/),
      }),
    ]);
    nginxConf(`log_format plain '$remote_addr $status $request_time';`, `access_log ${accessLog} plain;`);
    expect((await check())[0]?.message).toMatch(/^log_format plain does not write a JSON object/);
    nginxConf(`access_log ${accessLog} nowhere;`);
    expect((await check())[0]?.message).toMatch(/uses log_format nowhere, which is not defined/);
  });

  it('points at metrics.accessLog when nothing writes that file', async () => {
    nginxConf(LOG_FORMAT, 'access_log /var/log/nginx/other.log shipcheck;', 'access_log off;');
    expect(await check()).toEqual([
      {
        severity: 'error',
        at: 'accessLog',
        message: expect.stringMatching(
          new RegExp(
            `^metrics.accessLog: no access_log directive in ${conf} or the files it includes writes ${accessLog}`,
          ),
        ),
      },
    ]);
    // A path made of variables might be it: a doubt, not an error.
    nginxConf(LOG_FORMAT, 'access_log /var/log/nginx/$host.log shipcheck;');
    expect((await check())[0]?.severity).toBe('warning');
    // A relative path is resolved by nginx against its prefix.
    nginxConf(LOG_FORMAT, 'access_log access.log shipcheck;');
    expect(await check()).toEqual([]);
  });

  it('warns of what makes lines late, unsafe or misread, and refuses gzip', async () => {
    nginxConf(
      `log_format shipcheck escape=none '{"status":"$body_bytes_sent","upstream_addr":"$upstream_addr","request_time":"$request_time"}';`,
      `access_log ${accessLog} shipcheck buffer=64k;`,
      `access_log ${accessLog} shipcheck gzip;`,
    );
    const findings = await check();
    expect(findings.map((f) => [f.severity, f.message.replace(/;.*/, '')])).toEqual([
      [
        'warning',
        `access_log ${accessLog}: buffer= holds lines back until the buffer fills, so analysis sees requests late or not at all`,
      ],
      [
        'warning',
        'log_format shipcheck: escape=none lets a quote in a request or header break the JSON line',
      ],
      ['warning', 'log_format shipcheck: "status" holds $body_bytes_sent'],
      ['error', `access_log ${accessLog}: gzip compresses the log, which shipcheck cannot read as it grows`],
    ]);
  });

  it('follows includes, and says what it could not read instead of guessing', async () => {
    const upstreamFile = path.join(dir, 'upstream.conf');
    writeFileSync(path.join(dir, 'logging.conf'), `${LOG_FORMAT}\naccess_log ${accessLog} shipcheck;\n`);
    nginxConf(`include ${upstreamFile};`, 'include logging.conf;');
    // shipcheck writes the upstream file itself, so its absence says nothing.
    expect(await check([upstreamFile])).toEqual([]);

    nginxConf('include logging-missing.conf;');
    const findings = await check();
    expect(findings.map((f) => [f.severity, f.at])).toEqual([
      ['warning', { file: conf, line: 3, col: 3 }],
      ['warning', 'accessLog'],
    ]);
    expect(findings[0]?.message).toBe(
      `cannot read ${path.join(dir, 'logging-missing.conf')} (no such file); what it holds was not checked for metrics.accessLog`,
    );

    rmSync(conf);
    expect(await check()).toEqual([
      {
        severity: 'warning',
        at: 'nginxConfig',
        message: `traffic.nginxConfig: cannot read ${conf} (no such file); the format of metrics.accessLog was not checked`,
      },
    ]);
  });
});
