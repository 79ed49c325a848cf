import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newRelease, runStoreContract } from '../store.case.js';
import { SqliteStore } from './sqlite-store.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-sqlite-'));
let n = 0;
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

runStoreContract('sqlite', async () => {
  const store = SqliteStore.open(path.join(dir, `state-${n++}.db`));
  await store.migrate();
  return store;
});

describe('SqliteStore', () => {
  it('keeps committed transitions across a reopen of the file', async () => {
    const file = path.join(dir, 'reopen', 'state.db');
    const a = SqliteStore.open(file);
    await a.migrate();
    const r = await a.createRelease(newRelease('web', 'v2'));
    await a.updateRelease(r.id, { phase: 'canary', weight: 10 }, 2000);
    await a.close();
    const b = SqliteStore.open(file);
    await b.migrate();
    expect(await b.activeRelease('web')).toMatchObject({ version: 'v2', phase: 'canary', weight: 10 });
    await b.close();
  });
});
