/**
 * The built-in proxy's own process: a ProxyRouter serving the route and upstream table a control plane
 * pushed last, a control server on a Unix socket, and a state file naming it for the next control plane
 * to adopt. It outlives a control plane that is killed and keeps serving; SIGTERM stops it gracefully.
 * Started by ProcessProxyRouter with its ProxyProcessConfig as JSON in SHIPCHECK_PROXY.
 */
import path from 'node:path';
import { pino } from 'pino';
import { errorMessage } from '../../../errors.js';
import { processStartTime } from '../../fleet/local/process-identity.js';
import { RequestMetrics } from '../../metrics/builtin/request-metrics.js';
import {
  CONTROL_PROTOCOL,
  PROXY_CONFIG_ENV,
  PROXY_FORCE_TOKEN_ENV,
  type ProxyProcessConfig,
} from './control-protocol.js';
import { ControlServer, PushedUpstreams } from './control-server.js';
import { ProxyRouter, randomForceToken } from './proxy-router.js';
import { ensurePrivateDir, removeProxyState, writeProxyState } from './proxy-state.js';

/** Exit code when the proxy cannot start; the reason is the log's last line. */
const EXIT_CANNOT_START = 1;
const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

function readConfig(): ProxyProcessConfig {
  const text = process.env[PROXY_CONFIG_ENV];
  if (!text) throw new Error(`${PROXY_CONFIG_ENV} is not set: this process is started by shipcheck up`);
  return JSON.parse(text) as ProxyProcessConfig;
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = pino({ base: { name: 'shipcheck-proxy', unit: config.unit } });
  const metrics = new RequestMetrics();
  const upstreams = new PushedUpstreams();
  // The configured token, or one of its own that the control plane reads over the socket.
  const forceToken = process.env[PROXY_FORCE_TOKEN_ENV] || randomForceToken();
  delete process.env[PROXY_FORCE_TOKEN_ENV];
  const proxy = new ProxyRouter({
    listen: config.listen,
    timeouts: config.timeouts,
    upstreams: upstreams.source,
    metrics,
    logger,
    forceToken,
    forceFrom: config.forceFrom,
  });
  await proxy.start();
  const control = new ControlServer({
    proxy,
    upstreams,
    metrics,
    settings: { listen: config.listen, timeouts: config.timeouts },
    forceToken,
    onError: (err) => logger.warn({ err: errorMessage(err) }, 'control request failed'),
  });
  ensurePrivateDir(path.dirname(config.socket));
  await control.listen(config.socket);
  writeProxyState({
    ...config,
    protocol: CONTROL_PROTOCOL,
    pid: process.pid,
    startTime: processStartTime(process.pid) ?? '',
    address: proxy.address(),
  });
  logger.info({ address: proxy.address(), pid: process.pid }, 'proxy serving');

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'proxy stopping: finishing the requests in flight');
    removeProxyState(config.stateFile, process.pid);
    void Promise.all([control.close(), proxy.close()])
      .catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'proxy stop failed'))
      .finally(() => {
        logger.info('proxy stopped');
        logger.flush();
        process.exit(0);
      });
  };
  for (const signal of STOP_SIGNALS) process.on(signal, stop);
}

main().catch((err: unknown) => {
  // One plain line: the control plane quotes the log's last line when the process does not come up.
  process.stderr.write(`proxy cannot start: ${errorMessage(err)}\n`);
  process.exit(EXIT_CANNOT_START);
});
