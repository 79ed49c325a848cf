import crypto from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Scenario, waitFor } from './harness.js';

const PG_URL = process.env.SHIPCHECK_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const REQUIRE_REAL = process.env.SHIPCHECK_REQUIRE_REAL === '1';
const schema = `sc_e2e_${crypto.randomBytes(5).toString('hex')}`;

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
});
