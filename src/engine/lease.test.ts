import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/types.js';
import { ManualClock } from '../util/clock.js';
import { Lease } from './lease.js';

const TTL = 10_000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-lease-'));
let n = 0;
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function setup(): Promise<{ store: Store; clock: ManualClock; lease: (holder: string) => Lease }> {
  const store = SqliteStore.open(path.join(dir, `state-${n++}.db`));
  await store.migrate();
  const clock = new ManualClock(1_000_000);
  const logger = pino({ level: 'silent' });
  return {
    store,
    clock,
    lease: (holder) => new Lease({ store, name: 'web', holder, ttlMs: TTL, clock, logger }),
  };
}

describe('Lease', () => {
  it('lets one replica hold a unit while it renews, and another take it over once it stops', async () => {
    const { store, clock, lease } = await setup();
    const a = lease('a');
    const b = lease('b');
    expect(await a.check()).toBe(true);
    expect(await b.check()).toBe(false);
    // While a keeps checking, its renewals keep the lease ahead of the clock.
    for (let i = 0; i < 10; i++) {
      clock.advance(TTL / 2);
      expect(await a.check()).toBe(true);
      expect(await b.check()).toBe(false);
    }
    const lastRenewal = (await store.getLease('web'))!;
    // When a stops renewing (kill -9), b gets nothing before the expiry, and the lease at the expiry.
    clock.set(lastRenewal.expiresAt - 1);
    expect(await b.check()).toBe(false);
    // A replica without the lease asks twice a second, so it has the lease within half a second of the expiry.
    clock.set(lastRenewal.expiresAt + 500);
    expect(await b.check()).toBe(true);
    expect(b.epoch).toBe(lastRenewal.epoch + 1);
    // The old holder learns it lost the lease at its next renewal.
    expect(await a.check()).toBe(false);
    expect(a.held).toBe(false);
    await store.close();
  });

  it('hands over at once when the holder lets go', async () => {
    const { store, clock, lease } = await setup();
    const a = lease('a');
    const b = lease('b');
    expect(await a.check()).toBe(true);
    expect(await b.check()).toBe(false);
    await a.release();
    clock.advance(500);
    expect(await b.check()).toBe(true);
    await store.close();
  });

  it('keeps acting through a store outage only while its lease surely stands', async () => {
    const { store, clock, lease } = await setup();
    const a = lease('a');
    expect(await a.check()).toBe(true);
    const acquire = store.acquireLease.bind(store);
    store.acquireLease = () => Promise.reject(new Error('Connection terminated unexpectedly'));
    clock.advance(TTL / 2);
    expect(await a.check()).toBe(true);
    clock.advance(TTL * 0.3);
    expect(await a.check()).toBe(false);
    // Once the store answers again, the lease (still unexpired or free) comes back.
    store.acquireLease = acquire;
    clock.advance(TTL);
    expect(await a.check()).toBe(true);
    await store.close();
  });

  it('judges by the time after a renewal that failed slowly, not the time before it', async () => {
    const { store, clock, lease } = await setup();
    const a = lease('a');
    expect(await a.check()).toBe(true);
    clock.advance(TTL / 3);
    // A store that retried the renewal for most of the TTL before giving up
    store.acquireLease = () => {
      clock.advance(TTL * 0.6);
      return Promise.reject(new Error('Connection terminated unexpectedly'));
    };
    expect(await a.check()).toBe(false);
    expect(a.stillHeld()).toBe(false);
    await store.close();
  });

  it('does not act on a renewal that came back too late, and acts again after a prompt one', async () => {
    const { store, clock, lease } = await setup();
    const a = lease('a');
    expect(await a.check()).toBe(true);
    clock.advance(TTL / 3);
    const acquire = store.acquireLease.bind(store);
    // The renewal lands, but only after 90% of the TTL: the row expires a TTL after the try began
    store.acquireLease = async (...args) => {
      const row = await acquire(...args);
      clock.advance(TTL * 0.9);
      return row;
    };
    expect(await a.check()).toBe(false);
    expect(a.stillHeld()).toBe(false);
    store.acquireLease = acquire;
    expect(await a.check()).toBe(true);
    expect(a.stillHeld()).toBe(true);
    await store.close();
  });

  it('tells the engine before each action whether the lease still surely stands, by the time then', async () => {
    const { store, clock, lease } = await setup();
    const a = lease('a');
    expect(await a.check()).toBe(true);
    clock.advance(TTL * 0.8 - 1);
    expect(a.stillHeld()).toBe(true);
    clock.advance(1);
    expect(a.stillHeld()).toBe(false);
    await store.close();
  });
});
