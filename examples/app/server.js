// The sample app shipcheck deploys in its demo, docs and tests. Plain Node, no dependencies.
// Each version can be told to misbehave through SAMPLE_FAULTS so rollbacks can be shown for real.
import http from 'node:http';

const DEFAULT_PORT = 3000;
const HOST = '127.0.0.1';
/** While draining, idle keep-alive sockets are closed this often so the process can exit. */
const IDLE_SWEEP_MS = 100;
const EXIT_CRASH = 1;
const EXIT_BAD_CONFIG = 2;

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
  if (req.method === 'GET' && path === '/') {
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
