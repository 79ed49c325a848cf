import crypto from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Scenario, waitFor } from './harness.js';

const PG_URL = process.env.SHIPCHECK_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const schema = `sc_e2e_${crypto.randomBytes(5).toString('hex')}`;
/** Connections are ended this often, this many times at most, while the rollout runs. */
const TERMINATE_EVERY_MS = 200;
const TERMINATE_ROUNDS = 40;

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const problem = await admin(async () => undefined).catch((err: Error) => err.message);
if (problem !== undefined && !REQUIRE_REAL) {
  console.warn(
    `SKIPPING the PostgreSQL end-to-end test: PostgreSQL at ${PG_URL} is not reachable (${problem})`,
  );
}

afterAll(async () => {
  if (problem === undefined) await admin((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
});

describe.runIf(problem === undefined || REQUIRE_REAL)('the control plane on PostgreSQL', () => {
  let s: Scenario | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('keeps its state in PostgreSQL across a kill -9 mid-release', async () => {
    if (problem !== undefined) throw new Error(`PostgreSQL at ${PG_URL} is not reachable: ${problem}`);
    await admin((c) => c.query(`CREATE SCHEMA ${schema}`));
    const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    s = await Scenario.create({
      steps: '[{setWeight: 20}, {pause: 2s}, {setWeight: 50}]',
      extra: `store: "${url}"\n`,
    });
    await s.up();
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
    expect((await s.cli('deploy', 'v2')).code).toBe(0);
    await waitFor('weight 20', async () => (await s!.status()).release?.weight === 20);
    await s.crash();
    await s.up();
    await s.waitForState('succeeded');
    expect(s.processCounts()).toEqual({ v1: 3, v2: 3 });
    const rows = await admin((c) => c.query(`SELECT version, state FROM ${schema}.releases ORDER BY id`));
    expect(rows.rows).toEqual([
      { version: 'v1', state: 'succeeded' },
      { version: 'v2', state: 'succeeded' },
    ]);
  });

  it('rides out every connection to PostgreSQL being ended mid-rollout, losing nothing', async () => {
    if (problem !== undefined) throw new Error(`PostgreSQL at ${PG_URL} is not reachable: ${problem}`);
    const own = `${schema}_terminate`;
    await admin((c) => c.query(`CREATE SCHEMA ${own}`));
    // The application name lets the test end this control plane's connections and no one else's.
    const app = `shipcheck-e2e-${crypto.randomBytes(4).toString('hex')}`;
    const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${app}&options=${encodeURIComponent(`-c search_path=${own}`)}`;
    try {
      s = await Scenario.create({
        steps: '[{setWeight: 20}, {pause: 2s}, {setWeight: 50}, {pause: 2s}]',
        extra: `store: "${url}"\n`,
      });
      await s.up();
      expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);
      expect((await s.cli('deploy', 'v2')).code).toBe(0);

      // When every backend of the control plane is terminated, again and again, through the rollout
      const pid = s.serverPid;
      let terminated = 0;
      for (let round = 0; round < TERMINATE_ROUNDS; round++) {
        const { rows } = await admin((c) =>
          c.query<{ ended: boolean }>(
            'SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = $1',
            [app],
          ),
        );
        terminated += rows.filter((r) => r.ended).length;
        const state = await s.status().then(
          (st) => st.release?.state,
          () => undefined,
        );
        if (state === 'succeeded') break;
        await new Promise((resolve) => setTimeout(resolve, TERMINATE_EVERY_MS));
      }

      // Then the release succeeded, every weight change and event is there once, and the process lived on
      expect(terminated).toBeGreaterThan(0);
      await s.waitForState('succeeded').catch((err: Error) => {
        throw new Error(`${err.message}\n${s!.log.slice(-8000)}`);
      });
      expect(s.serverPid).toBe(pid);
      const release = (await s.status()).release!;
      const events = await admin((c) =>
        c.query<{ type: string; message: string }>(
          `SELECT type, message FROM ${own}.events WHERE release_id = $1 ORDER BY id`,
          [release.id],
        ),
      );
      const weights = events.rows.filter((e) => e.type === 'release.weight').map((e) => e.message);
      expect(weights).toEqual(['v2 weight 20%', 'v2 weight 50%', 'v2 weight 100%']);
      expect(events.rows.filter((e) => e.type === 'release.succeeded')).toHaveLength(1);
      const effects = await admin((c) =>
        c.query<{ key: string; state: string }>(
          `SELECT key, state FROM ${own}.effects WHERE release_id = $1 ORDER BY at`,
          [release.id],
        ),
      );
      expect(effects.rows).toEqual([
        { key: `web#${release.id}:traffic:20`, state: 'done' },
        { key: `web#${release.id}:traffic:50`, state: 'done' },
        { key: `web#${release.id}:traffic:100`, state: 'done' },
      ]);
      expect(s.processCounts()).toEqual({ v1: 3, v2: 3 });
    } finally {
      await admin((c) => c.query(`DROP SCHEMA IF EXISTS ${own} CASCADE`));
    }
  });
});
