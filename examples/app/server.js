// The sample app shipcheck deploys in its demo, docs and tests. Plain Node; its one dependency is
// prom-client, for the request metrics Prometheus scrapes from `/metrics`.
// Each version can be told to misbehave through SAMPLE_FAULTS so rollbacks can be shown for real.
import http from 'node:http';
import { Counter, Histogram, Registry } from 'prom-client';

const DEFAULT_PORT = 3000;
const HOST = '127.0.0.1';
/** While draining, idle keep-alive sockets are closed this often so the process can exit. */
const IDLE_SWEEP_MS = 100;
const EXIT_CRASH = 1;
const EXIT_BAD_CONFIG = 2;
/** Latency histogram bounds in seconds, from 1 ms to 10 s, so a p99 anywhere in that range is readable. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const NS_PER_SECOND = 1e9;

const port = Number(process.env.PORT ?? DEFAULT_PORT);
const version = process.env.APP_VERSION ?? 'dev';
const instance = process.env.SHIPCHECK_INSTANCE ?? '0';
const startedAt = Date.now();

/** Reads this version's entry of SAMPLE_FAULTS; a malformed value stops the app rather than being ignored. */
function readFaults() {
  const raw = process.env.SAMPLE_FAULTS;
  if (!raw) return {};
  let all;
  try {
    all = JSON.parse(raw);
  } catch (err) {
    process.stderr.write(`ERROR SAMPLE_FAULTS is not valid JSON: ${err.message}\n`);
    process.exit(EXIT_BAD_CONFIG);
  }
  const mine = all && typeof all === 'object' ? all[version] : undefined;
  return mine && typeof mine === 'object' ? mine : {};
}

const faults = readFaults();
const errorRate = Math.min(Math.max(Number(faults.errorRate) || 0, 0), 1);
const latencyMs = Math.max(Number(faults.latencyMs) || 0, 0);
let requestCount = 0;

// `service` and `version` are not labels here: Prometheus adds them from shipcheck's service discovery,
// and the same names exported by the app would be renamed `exported_*` and miss the default queries.
const registry = new Registry();
const requestsTotal = new Counter({
  name: 'http_requests_total',
  help: 'Requests to / by status code and method.',
  labelNames: ['code', 'method'],
  registers: [registry],
});
const requestDuration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'Time to answer a request to /, in seconds.',
  labelNames: ['code', 'method'],
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});
// Both outcomes exist from the start, at zero: a 500 series born mid-window would lose its first
// increment to rate(), and the error rate of a fresh canary would read low.
for (const code of ['200', '500']) {
  requestsTotal.inc({ code, method: 'GET' }, 0);
  requestDuration.zero({ code, method: 'GET' });
}

/** Counts a request to / once its response is sent, with the status it was answered. */
function recordRequest(req, res, startedNs) {
  res.once('finish', () => {
    const labels = { code: String(res.statusCode), method: req.method ?? 'GET' };
    requestsTotal.inc(labels);
    requestDuration.observe(labels, Number(process.hrtime.bigint() - startedNs) / NS_PER_SECOND);
  });
}

/**
 * Decides whether the nth request fails. Counting instead of rolling dice makes a rate exact:
 * 0.2 fails requests 5, 10, 15, ... so tests and demos see the same numbers every time.
 */
function shouldFail() {
  requestCount += 1;
  return Math.floor(requestCount * errorRate) > Math.floor((requestCount - 1) * errorRate);
}

function healthy() {
  if (faults.neverHealthy) return false;
  if (faults.unhealthyAfterMs !== undefined && Date.now() - startedAt >= Number(faults.unhealthyAfterMs)) {
    return false;
  }
  return true;
}

function send(res, status, contentType, body) {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function handleRoot(res) {
  if (shouldFail()) {
    if (faults.logErrors) {
      process.stderr.write(`ERROR request ${requestCount} failed on purpose (errorRate ${errorRate})\n`);
    }
    send(res, 500, 'application/json', JSON.stringify({ error: 'injected failure', version, instance }));
    return;
  }
  send(res, 200, 'application/json', JSON.stringify({ version, instance }));
}

const server = http.createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method === 'GET' && path === '/healthz') {
    if (healthy()) send(res, 200, 'text/plain', 'ok');
    else send(res, 503, 'text/plain', 'unhealthy');
    return;
  }
  if (req.method === 'GET' && path === '/metrics') {
    registry.metrics().then(
      (body) => send(res, 200, registry.contentType, body),
      (err) => send(res, 500, 'text/plain', `metrics failed: ${err.message}`),
    );
    return;
  }
  if (req.method === 'GET' && path === '/') {
    recordRequest(req, res, process.hrtime.bigint());
    if (latencyMs > 0) setTimeout(() => handleRoot(res), latencyMs);
    else handleRoot(res);
    return;
  }
  send(res, 404, 'text/plain', 'not found');
});

server.listen(port, HOST, () => {
  process.stdout.write(`listening on ${port} version ${version}\n`);
});

if (faults.crashAfterMs !== undefined) {
  setTimeout(() => {
    process.stderr.write(`crashing after ${faults.crashAfterMs}ms (crashAfterMs fault)\n`);
    process.exit(EXIT_CRASH);
  }, Number(faults.crashAfterMs)).unref();
}

let draining = false;

/** Stops accepting connections, lets in-flight requests finish, then exits 0. */
function drainAndExit() {
  if (draining) return;
  draining = true;
  server.close(() => process.exit(0));
  // close() only waits; keep-alive sockets that go idle after their last response must be closed too.
  server.closeIdleConnections();
  setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS).unref();
}

process.on('SIGTERM', drainAndExit);
process.on('SIGINT', drainAndExit);
