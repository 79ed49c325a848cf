import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// A real Prometheus, for tests and benchmarks that read metrics the way users' setups do.

const PROMETHEUS_BIN = 'prometheus';
const PROMETHEUS_READY_LIMIT_MS = 15_000;
const PROMETHEUS_STOP_LIMIT_MS = 5_000;
const LOG_TAIL_CHARS = 4000;
const POLL_MS = 100;

/** True when Debian's `prometheus` binary is on PATH. */
export function hasPrometheus(): boolean {
  return spawnSync(PROMETHEUS_BIN, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Where {@link startPrometheus} finds its targets and how often it looks. */
export interface PrometheusOptions {
  /** Port to listen on, on 127.0.0.1; chosen before start so a shipcheck config can name it. */
  port: number;
  /** shipcheck HTTP SD endpoints (`<api>/api/v1/sd/prometheus`), all in one scrape job. */
  sdUrls: string[];
  /** The shipcheck API token Prometheus sends to the SD endpoints, which need a viewer's token. */
  sdToken?: string;
  /**
   * Instead of sdToken: one bearer-token file per entry of sdUrls. Prometheus reads a credentials
   * file on every request, so a token can be written there once its control plane is up.
   */
  sdTokenFiles?: string[];
  /** Scrape, rule evaluation and SD refresh interval, e.g. `1s`. */
  interval: string;
}

/** A Prometheus process started by a test, with its own config and storage in a temp folder. */
export interface RunningPrometheus {
  /** Base URL of its HTTP API, e.g. http://127.0.0.1:9091. */
  url: string;
  /** Every PromQL query it evaluated so far, from its query log (`global.query_log_file`). */
  queries(): string[];
  /** The tail of what it logged, for failure messages. */
  log(): string;
  /** SIGTERM by pid, SIGKILL if it has not exited in time; removes its folder. */
  stop(): Promise<void>;
}

/** Starts Prometheus scraping what `sdUrls` list and waits until it answers /-/ready. */
export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-prometheus-'));
  const queryLog = path.join(dir, 'queries.log');
  const tokenFile = path.join(dir, 'sd-token');
  if (options.sdToken !== undefined) fs.writeFileSync(tokenFile, options.sdToken, { mode: 0o600 });
  const config = [
    'global:',
    `  scrape_interval: ${options.interval}`,
    `  scrape_timeout: ${options.interval}`,
    `  evaluation_interval: ${options.interval}`,
    `  query_log_file: ${queryLog}`,
    'scrape_configs:',
    '  - job_name: shipcheck',
    '    http_sd_configs:',
    ...options.sdUrls.flatMap((url, i) => {
      const credentials =
        options.sdTokenFiles?.[i] ?? (options.sdToken !== undefined ? tokenFile : undefined);
      return [
        `      - url: ${url}`,
        `        refresh_interval: ${options.interval}`,
        // The type is spelt out: Prometheus 2.42's HTTP SD sends the bare token without it.
        ...(credentials !== undefined
          ? ['        authorization:', '          type: Bearer', `          credentials_file: ${credentials}`]
          : []),
      ];
    }),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), config);
  const url = `http://127.0.0.1:${options.port}`;
  const child = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${options.port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let log = '';
  const keepTail = (chunk: Buffer): void => {
    log = (log + chunk.toString()).slice(-LOG_TAIL_CHARS);
  };
  child.stdout.on('data', keepTail);
  child.stderr.on('data', keepTail);

  const stop = async (): Promise<void> => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGTERM');
      const late = setTimeout(() => {
        if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      }, PROMETHEUS_STOP_LIMIT_MS);
      await exited;
      clearTimeout(late);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const readyBy = Date.now() + PROMETHEUS_READY_LIMIT_MS;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (child.exitCode !== null || Date.now() > readyBy) {
      const why = child.exitCode !== null ? `exited with ${child.exitCode}` : 'not ready after 15s';
      await stop();
      throw new Error(`prometheus ${why}:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }

  return {
    url,
    queries() {
      if (!fs.existsSync(queryLog)) return [];
      return fs
        .readFileSync(queryLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { params?: { query?: string } }).params?.query ?? '');
    },
    log: () => log,
    stop,
  };
}
