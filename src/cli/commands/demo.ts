import crypto from 'node:crypto';
import readline from 'node:readline';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../config/loader.js';
import { type ControlPlane, startControlPlane } from '../../control-plane.js';
import type { ReleaseView } from '../../engine/views.js';
import { LoadGenerator, type LoadReport } from '../../load/load-generator.js';
import { createLogger } from '../../logger.js';
import { freePort } from '../../util/net.js';
import { ShipcheckError } from '../../errors.js';
import { checklistItemShape, checklistShape, eventsShape, releaseShape, statusShape } from '../api-shapes.js';
import { ApiClient } from '../client.js';
import type { GlobalOptions, Io } from '../target.js';
import BetterSqlite3 from 'better-sqlite3';
import { makeBackup } from '../../app-database/backup.js';
import { renderReport } from '../../checklist/report.js';
import { systemClock } from '../../util/clock.js';
import { type DemoCache, startVarnish } from './demo-cache.js';
import { type DemoMailServer, startDemoMail } from './demo-mail.js';
import { DEMO_ONCALL, addOnCallPeople, followCommunication } from './demo-comms.js';
import { showScaling } from './demo-scale.js';
import { demoCatalogConfig, showCatalog } from './demo-catalog.js';
import { DEMO_MAINTENANCE_CONFIG, demoMaintenance } from './demo-maintenance.js';
import {
  DEMO_BASELINE_CONFIG,
  DEMO_SLOW_V2,
  showBaselineRegression,
  waitForBaseline,
} from './demo-baseline.js';

const SAMPLE_APP = fileURLToPath(new URL('../../../../examples/app/server.js', import.meta.url));
const BIN =
  path.relative(process.cwd(), fileURLToPath(new URL('../../../../bin/shipcheck', import.meta.url))) ||
  'bin/shipcheck';
/** Steady demo traffic: enough that a 10% canary gets ~5 requests a second. */
const DEMO_RPS = 50;
/** Upper bound on the whole demo; it normally takes about a minute. */
const DEMO_MAX_MS = 5 * 60_000;
/** The exit code of a demo stopped with Ctrl-C (128 + SIGINT), as shells report it. */
const INTERRUPTED_EXIT = 130;
/** How often the demo looks at a release it follows. */
const FOLLOW_POLL_MS = 250;
/** Items named when the demo lists what it signs. */
const LISTED_ITEMS = 5;
/** How long a verified rollback's incident is monitored before it resolves, in seconds. */
const DEMO_MONITOR_S = 15;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The report HTML-escapes text; section names only contain `&` among the escaped characters. */
function escapeForCheck(text: string): string {
  return text.replace(/&/g, '&amp;');
}

function demoConfig(
  apiPort: number,
  proxyPort: number,
  cacheUrl: string | undefined,
  mailPort: number,
): string {
  return `# Written by "shipcheck demo": three instances of a sample app behind the built-in proxy.
service: demo
server:
  listen: 127.0.0.1:${apiPort}
fleet:
  kind: local
  command: ["${process.execPath}", "${SAMPLE_APP}"]
  instances: 3
  canaryInstances: 1
  startTimeout: 20s
  stopTimeout: 5s
  env:
    # v3 answers every fifth request with a 500.
    SAMPLE_FAULTS: '{"v3": {"errorRate": 0.2, "logErrors": true}, ${DEMO_SLOW_V2}}'
  health: { path: /healthz, interval: 500ms, timeout: 1s, unhealthyAfter: 3 }
traffic:
  kind: proxy
  listen: 127.0.0.1:${proxyPort}
strategy:
  steps:
    - setWeight: 10
    - pause: 5s
    - setWeight: 50
    - pause: 5s
  bakeTime: 7s
${DEMO_BASELINE_CONFIG}analysis:
  interval: 1s
rollback:
  triggers:
    - { metric: error_rate, above: 5%, window: 10s, for: 2s, minRequests: 20 }
    - { metric: latency_p99, above: 2s, window: 10s, minRequests: 20 }
    - { health: failed }
  keepPreviousFor: 10m
  migrations: down
migrations:
  dir: migrations
  database: sqlite:app.db
backup:
  database: sqlite:app.db
  dir: backups
${cacheUrl ? `cdn:\n  purge:\n    - { url: "${cacheUrl}/", method: PURGE }\n` : ''}# Who hears of what: releases by email, the on-call pair paged by the escalation policy, the status page.
channels:
  - name: releases-mail
    type: email
    smtp: { host: 127.0.0.1, port: ${mailPort} }
    from: shipcheck@demo.example
    to: [releases@demo.example]
oncall:
  schedules:
    - { name: primary, timeZone: UTC, layers: [{ name: all, users: [${DEMO_ONCALL.primary}], start: '2026-01-05T00:00', turn: weekly }] }
    - { name: secondary, timeZone: UTC, layers: [{ name: all, users: [${DEMO_ONCALL.secondary}], start: '2026-01-05T00:00', turn: weekly }] }
  escalationPolicies:
    - name: demo-oncall
      steps:
        # Short, for the demo: a real policy waits minutes before the secondary.
        - { delay: 3s, targets: [{ schedule: primary }] }
        - { delay: 10m, targets: [{ schedule: secondary }] }
statusPage:
  name: Demo shop
  components: [{ name: Shop, services: [demo] }]
communication:
  notify: { rolledBack: [releases-mail], aborted: [releases-mail] }
  incident: { escalationPolicy: demo-oncall, severity: critical, monitorFor: ${DEMO_MONITOR_S}s }
checklist:
  template: default
  vars:
    primarySchedule: primary
    secondarySchedule: secondary
    escalationPolicy: demo-oncall
    healthPath: /healthz
    readyPath: /healthz
    journeyPath: /
    requiredEnv: APP_VERSION
    # v3's test suite fails: the demo shows a blocked release, then waives the item with a reason.
    testCommand: >-
      sh -c 'if [ "$SHIPCHECK_VERSION" = v3 ]; then echo "41 passed, 1 failed: checkout total"; exit 1; fi; echo "42 passed"'
${demoCatalogConfig(cacheUrl, DEMO_ONCALL.primary)}
${DEMO_MAINTENANCE_CONFIG}`;
}

/** Each version brings one migration; v3's is undone when v3 is rolled back. */
const MIGRATIONS: Record<string, [name: string, up: string, down: string]> = {
  v1: [
    '001_create_orders',
    'CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL NOT NULL);',
    'DROP TABLE orders;',
  ],
  v2: [
    '002_add_order_status',
    "ALTER TABLE orders ADD COLUMN status TEXT NOT NULL DEFAULT 'new';",
    'ALTER TABLE orders DROP COLUMN status;',
  ],
  v3: [
    '003_create_coupons',
    'CREATE TABLE coupons (code TEXT PRIMARY KEY, percent INTEGER);',
    'DROP TABLE coupons;',
  ],
};

function addMigration(dir: string, version: string): string {
  const migration = MIGRATIONS[version];
  if (!migration) return '';
  const [name, up, down] = migration;
  fs.mkdirSync(path.join(dir, 'migrations'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'migrations', `${name}.up.sql`), `${up}\n`);
  fs.writeFileSync(path.join(dir, 'migrations', `${name}.down.sql`), `${down}\n`);
  return name;
}

function addOrders(file: string): void {
  const db = new BetterSqlite3(file);
  try {
    db.exec('INSERT INTO orders (total) VALUES (12.5), (30), (7.25)');
  } finally {
    db.close();
  }
}

/** The version behind a page, as the cache serves it (possibly from its cache). */
async function servedBy(url: string): Promise<string | undefined> {
  const response = await fetch(url);
  await response.text();
  return response.headers.get('x-shipcheck-served-by') ?? undefined;
}

function tablesIn(file: string): string[] {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    const rows = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
      name: string;
    }[];
    return rows.map((r) => r.name);
  } finally {
    db.close();
  }
}

/** The demo's person: an admin who may sign every item of the default template. */
const DEMO_USER = 'demo';
const DEMO_GROUPS = ['sre', 'release-manager', 'security', 'service-owner'];

/**
 * Creates the first admin with the setup code `shipcheck up` would print, signs in with a password,
 * joins the teams the default template's items name, and creates an API token: the way a person
 * starts on a fresh server. Returns the token.
 */
async function signInAsDemo(
  apiUrl: string,
  setupCode: string | undefined,
): Promise<{ token: string; password: string }> {
  if (setupCode === undefined) throw new ShipcheckError('the demo store already has users');
  const password = crypto.randomBytes(18).toString('base64url');
  const post = async (
    route: string,
    body: object,
    session?: { cookie: string; csrf: string },
  ): Promise<{ json: Record<string, unknown>; cookie: string | undefined }> => {
    const response = await fetch(apiUrl + route, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(session ? { cookie: session.cookie, 'x-shipcheck-csrf': session.csrf } : {}),
      },
      body: JSON.stringify(body),
    });
    const json = (await response.json()) as Record<string, unknown>;
    if (!response.ok)
      throw new ShipcheckError(`demo sign-in: ${route} answered ${response.status}: ${String(json.error)}`);
    return { json, cookie: response.headers.get('set-cookie')?.split(';')[0] };
  };
  await post('/api/v1/setup', { code: setupCode, name: DEMO_USER, password });
  const login = await post('/api/v1/login', { name: DEMO_USER, password });
  const session = { cookie: login.cookie ?? '', csrf: String(login.json.csrf) };
  await post(`/api/v1/users/${DEMO_USER}/roles`, { roles: ['admin'], groups: DEMO_GROUPS }, session);
  const created = await post('/api/v1/tokens', { name: 'demo', role: 'admin', expiresIn: '1d' }, session);
  return { token: String(created.json.token), password };
}

/**
 * Waits until the person at the terminal presses Enter (or Ctrl-C, or closes standard input), so
 * they can open the dashboard before the releases start, and look around after they end.
 */
function waitForEnter(io: Io, prompt: string): Promise<void> {
  io.out(prompt);
  return new Promise((resolve) => {
    const lines = readline.createInterface({ input: process.stdin });
    const done = (): void => {
      lines.close();
      resolve();
    };
    lines.once('line', done);
    lines.once('close', done);
    // Ctrl-C at the prompt reaches the demo's own handler, which stops everything.
    lines.once('SIGINT', () => process.emit('SIGINT'));
  });
}

/**
 * `shipcheck demo`: the production checklist run for real on a sample app: v1 on three instances, a
 * good v2 promoted, a bad v3 blocked by its tests, waived, then rolled back by itself, with
 * migrations applied and undone and a backup restore verified. Exits 0 only if all of that happened.
 */
export async function demoCommand(
  opts: GlobalOptions & { keep: boolean; pause: boolean },
  io: Io,
): Promise<number> {
  // At a terminal the demo waits for Enter before the releases and after them, so a person can
  // watch them in the dashboard; a script or CI runs it straight through.
  const hold = opts.pause && Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-demo-'));
  const file = path.join(dir, 'shipcheck.yaml');
  const logger = createLogger({ debug: opts.debug ?? false, level: opts.debug ? 'debug' : 'warn' });
  let plane: ControlPlane | undefined;
  let load: LoadGenerator | undefined;
  let cache: DemoCache | undefined;
  let mail: DemoMailServer | undefined;
  const failures: string[] = [];
  let cleaning: Promise<void> | undefined;
  /** Stops what the demo started; once, whether it ends, fails or is interrupted. */
  const cleanUp = (): Promise<void> =>
    (cleaning ??= (async () => {
      clearTimeout(deadline);
      if (load) await load.stop();
      if (plane) await plane.close({ stopInstances: true });
      if (cache) await cache.stop();
      if (mail) await mail.close();
      if (!opts.keep) fs.rmSync(dir, { recursive: true, force: true });
    })());
  // Ctrl-C stops the app instances, the proxy and Varnish the demo started instead of leaving them.
  const interrupt = (): void => {
    io.err('demo: interrupted; stopping what it started');
    void cleanUp().finally(() => process.exit(INTERRUPTED_EXIT));
  };
  process.once('SIGINT', interrupt);
  // A supervisor's stop (SIGTERM) cleans up the same way.
  process.once('SIGTERM', interrupt);
  const expect = (ok: boolean, what: string): void => {
    io.out(`${ok ? '  ok  ' : '  FAIL'} ${what}`);
    if (!ok) failures.push(what);
  };
  let deadline: NodeJS.Timeout | undefined;
  const startDeadline = (): void => {
    deadline = setTimeout(() => {
      io.err(
        `demo: still running after ${DEMO_MAX_MS / 60_000} minutes; giving up, stopping what it started`,
      );
      // Cleaning up is bounded too: a stop that hangs does not keep the demo alive.
      void Promise.race([cleanUp(), sleep(30_000)]).finally(() => process.exit(1));
    }, DEMO_MAX_MS);
    deadline.unref();
  };
  startDeadline();
  try {
    const proxyPort = await freePort();
    // A real Varnish in front of the service, when this machine has one, shows the CDN purge.
    cache = await startVarnish(proxyPort, dir);
    // A real mail server stands in for the on-call people's inboxes.
    mail = await startDemoMail();
    fs.writeFileSync(file, demoConfig(await freePort(), proxyPort, cache?.url, mail.port));
    fs.mkdirSync(path.join(dir, 'migrations'));
    new BetterSqlite3(path.join(dir, 'app.db')).close();
    const loaded = await loadConfig(file);
    const config = loaded.config;
    plane = await startControlPlane(loaded, logger);
    // The demo signs in as a person would: the first admin through the setup code, then a token.
    const { token, password } = await signInAsDemo(plane.apiUrl, plane.setupCode);
    const client = new ApiClient(plane.apiUrl, { token });
    await addOnCallPeople(client);
    io.out(`shipcheck demo in ${dir}`);
    io.out(`  dashboard:            ${plane.apiUrl}/   sign in as ${DEMO_USER}, password ${password}`);
    io.out(
      `  API and live events:  ${plane.apiUrl}/api/v1/services/demo   curl -N ${plane.apiUrl}/api/v1/events`,
    );
    io.out(`  the service, proxied: ${plane.proxyUrl}/`);
    io.out(
      `  status page:          ${plane.apiUrl}/status   (Statuspage JSON: ${plane.apiUrl}/api/v2/summary.json)`,
    );
    io.out(
      `  on call:              ${DEMO_ONCALL.primary} (primary), ${DEMO_ONCALL.secondary} (secondary); mail to them lands at smtp://127.0.0.1:${mail.port}`,
    );
    io.out(
      `  watch from another terminal: SHIPCHECK_URL=${plane.apiUrl} SHIPCHECK_TOKEN=${token} ${BIN} status`,
    );

    const seen = { waitedWithEvidence: false, blocked: '', waived: false };
    /** Follows a release like `deploy --wait`, signing what a person would sign at each gate. */
    const follow = async (id: number): Promise<ReleaseView> => {
      let afterId = 0;
      const handled = new Set<string>();
      for (;;) {
        const { events } = await client.get(`/api/v1/releases/${id}/events`, eventsShape);
        for (const e of events.filter((x) => x.id > afterId)) {
          afterId = e.id;
          if (e.type !== 'checklist.item')
            io.out(`${new Date(e.at).toISOString().slice(11, 19)} ${e.message}`);
        }
        const release = await client.get(`/api/v1/releases/${id}`, releaseShape);
        if (['succeeded', 'rolled_back', 'aborted', 'failed'].includes(release.state)) return release;
        if (release.state === 'waiting') await actAtGate(release, handled);
        await sleep(FOLLOW_POLL_MS);
      }
    };
    const actAtGate = async (release: ReleaseView, handled: Set<string>): Promise<void> => {
      const view = await client.get(`/api/v1/releases/${release.id}/checklist`, checklistShape);
      const atGate = view.items.filter((i) => i.gate === view.gate);
      const failed = atGate.find((i) => i.state === 'failed');
      if (failed && !handled.has(`waive:${failed.id}`)) {
        handled.add(`waive:${failed.id}`);
        seen.blocked = failed.evidence.at(-1)?.summary ?? 'failed';
        io.out(`  -> blocked: ${failed.title}: ${failed.evidence.at(-1)?.summary ?? ''}`);
        io.out(`  -> shipcheck waive ${failed.id} --reason "known flaky test, ticket DEMO-1"`);
        await client.post(
          `/api/v1/services/demo/checklist/waive`,
          { item: failed.id, reason: 'known flaky test, ticket DEMO-1' },
          checklistItemShape,
        );
        seen.waived = true;
        return;
      }
      const running = atGate.filter((i) => i.automated && (i.state === 'pending' || i.state === 'running'));
      const toSign = atGate.filter((i) => !i.automated && i.state === 'pending');
      if (running.length > 0 || toSign.length === 0 || handled.has(`sign:${view.gate ?? ''}`)) return;
      handled.add(`sign:${view.gate ?? ''}`);
      const automated = atGate.filter((i) => i.automated);
      if (automated.length > 0 && automated.every((i) => i.evidence.length > 0))
        seen.waitedWithEvidence = true;
      io.out(`  ${view.gate} gate: ${automated.length} automated items checked themselves:`);
      for (const item of automated)
        io.out(`    [${item.state}] ${item.title}: ${item.evidence.at(-1)?.summary ?? ''}`);
      const items = toSign.length === 1 ? '1 item' : `${toSign.length} items`;
      io.out(`  ${items} left for a person to sign; the demo signs them as "demo":`);
      for (const item of toSign.slice(0, LISTED_ITEMS)) io.out(`    shipcheck sign ${item.id}`);
      if (toSign.length > LISTED_ITEMS) io.out(`    ... and ${toSign.length - LISTED_ITEMS} more`);
      for (const item of toSign) {
        await client.post(
          `/api/v1/services/demo/checklist/sign`,
          { item: item.id, note: 'demo sign-off' },
          checklistItemShape,
        );
      }
    };
    const deploy = async (version: string): Promise<ReleaseView> => {
      io.out('');
      const migration = addMigration(dir, version);
      io.out(`== shipcheck deploy ${version}${migration ? ` (brings migration ${migration})` : ''}`);
      const created = await client.post('/api/v1/services/demo/releases', { version }, releaseShape);
      return follow(created.id);
    };

    await showCatalog(plane, file, expect, io);
    const backup = await makeBackup(config.backup!, dir, systemClock);
    io.out(`  backup of app.db: ${path.relative(dir, backup.file)} (shipcheck backup)`);

    if (hold) {
      clearTimeout(deadline);
      await waitForEnter(
        io,
        '\nOpen the dashboard above and sign in, then press Enter to start the releases (about 30 seconds).',
      );
      startDeadline();
    }
    // Traffic runs from the start, so every release's metrics checks have data; before v1 is up the
    // proxy answers 503, which is why failures are counted from v1's success on.
    load = new LoadGenerator({
      url: `${plane.proxyUrl}/`,
      rps: DEMO_RPS,
      concurrency: 8,
      maxDurationMs: DEMO_MAX_MS,
    });
    load.start();
    io.out(`  load generator: ${DEMO_RPS} requests/s through the proxy`);

    const first = await deploy('v1');
    expect(first.state === 'succeeded', 'v1 starts on 3 instances and becomes stable');
    expect(seen.waitedWithEvidence, 'it waited at the pre-deploy gate with evidence on the automated items');
    const firstChecklist = await client.get(`/api/v1/releases/${first.id}/checklist`, checklistShape);
    const restore = firstChecklist.items.find((i) => i.kind === 'backup-restore');
    expect(
      restore?.state === 'passed',
      `the backup restore was verified: ${restore?.evidence.at(-1)?.summary ?? 'no item'}`,
    );
    expect(tablesIn(path.join(dir, 'app.db')).includes('orders'), 'migration 001 created the orders table');

    await waitForBaseline(client, first.id);
    const afterFirst = load.snapshot();
    addOrders(path.join(dir, 'app.db'));
    const second = await makeBackup(config.backup!, dir, systemClock);
    io.out(`  3 orders written; backup ${path.relative(dir, second.file)} (shipcheck backup)`);

    const cachedBefore = cache ? await servedBy(`${cache.url}/`) : undefined;
    const good = await deploy('v2');
    expect(good.state === 'succeeded', 'good v2 goes 10% -> 50% -> 100% and is promoted');
    if (cache) {
      const cachedAfter = await servedBy(`${cache.url}/`);
      expect(
        cachedBefore === 'v1' && cachedAfter === 'v2',
        `the CDN purge reached Varnish: its cached page came from ${cachedBefore ?? '?'}, now from ${cachedAfter ?? '?'}`,
      );
    } else {
      io.out('  skip CDN purge: varnishd is not installed here (Debian: apt-get install varnish)');
    }
    const goodChecklist = await client.get(`/api/v1/releases/${good.id}/checklist`, checklistShape);
    const restored =
      goodChecklist.items.find((i) => i.kind === 'backup-restore')?.evidence.at(-1)?.summary ?? '';
    expect(
      / [1-9]\d* rows, all counts match/.test(restored),
      `the backup with 3 orders restores: ${restored}`,
    );
    const afterGood = load.snapshot();

    const bad = await deploy('v3');
    expect(seen.blocked !== '' && seen.waived, 'a failing test suite blocked v3 until it was waived');
    expect(bad.state === 'rolled_back', 'bad v3 (20% 5xx) is rolled back by itself');
    expect(/error_rate/.test(bad.reason ?? ''), `the reason names the rule: ${bad.reason ?? '(none)'}`);
    const tables = tablesIn(path.join(dir, 'app.db'));
    expect(
      tables.includes('orders') && !tables.includes('coupons'),
      "v3's migration ran, and was undone on rollback",
    );

    await followCommunication(plane.apiUrl, client, mail, bad.id, expect, io);
    await showScaling(client, 'demo', 3, expect, io);
    await showBaselineRegression(client, good.id, io, expect);

    const reportFile = path.join(dir, `release-${bad.id}.html`);
    const badChecklist = await client.get(`/api/v1/releases/${bad.id}/checklist`, checklistShape);
    const html = renderReport(
      { release: badChecklist.release, items: badChecklist.items, auditHead: badChecklist.auditHead },
      'html',
    );
    fs.writeFileSync(reportFile, html);
    const sections = [...new Set(badChecklist.items.map((i) => i.section))];
    expect(
      sections.length > 0 && sections.every((section) => html.includes(escapeForCheck(section))),
      `the exported report shows all ${sections.length} checklist sections (${reportFile}${opts.keep ? '' : ', removed at the end; --keep keeps it'})`,
    );

    const report = await load.stop();
    load = undefined;
    if (hold) {
      clearTimeout(deadline);
      await waitForEnter(
        io,
        `\nThe releases are done: each one's page in the dashboard shows its steps, charts, verdicts and checklist.\nPress Enter to stop the demo.`,
      );
    }
    await demoMaintenance(client, io, expect);
    const status = await client.get('/api/v1/services/demo', statusShape);
    expect(status.stable === 'v2', `v2 is still stable (stable: ${status.stable})`);
    expect(
      report.failed === afterFirst.failed && report.proxyErrors === afterFirst.proxyErrors,
      `no request failed at the proxy once v1 was up (${describe(report)})`,
    );
    expect(
      (afterGood.byVersion.v1?.['5xx'] ?? 0) + (afterGood.byVersion.v2?.['5xx'] ?? 0) === 0,
      'no user saw an error during the good rollout',
    );
  } catch (err) {
    failures.push((err as Error).message);
    // Once interrupted, the requests cut short by the shutdown are not worth reporting.
    if (cleaning === undefined) io.err(`demo: ${(err as Error).message}`);
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await cleanUp();
  }
  io.out('');
  io.out(failures.length === 0 ? 'demo passed' : `demo FAILED: ${failures.length} check(s) did not hold`);
  return failures.length === 0 ? 0 : 1;
}

function describe(report: LoadReport): string {
  const versions = Object.entries(report.byVersion)
    .map(
      ([v, c]) =>
        `${v}: ${Object.entries(c)
          .map(([k, n]) => `${n} ${k}`)
          .join(', ')}`,
    )
    .join('; ');
  return `${report.sent} sent; ${versions}; ${report.failed} failed, ${report.proxyErrors} proxy errors`;
}
