import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/e2e/harness.js';
import { authorized, createFirstAdmin, withSession } from '../../test/support/auth.js';
import { startSecuredApi } from '../../test/support/secured-api.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { EventFilter, EventRow } from '../store/types.js';
import type { EventHubLimits } from './event-stream.js';
import { SSE_REPLAY } from './event-stream.js';
import { buildApi, createRegistry } from './server.js';

/** An open API (no engines, no authentication) over a real SQLite store, with its log lines kept. */
class OpenApi {
  /** Rows each newest-first read of the store returned. */
  readonly newestReads: number[] = [];

  private constructor(
    /** The API's log lines, as JSON. */
    readonly logs: string[],
    readonly dir: string,
    readonly store: SqliteStore,
    readonly app: ReturnType<typeof buildApi>,
    readonly url: string,
  ) {}

  static async start(events: EventHubLimits = {}): Promise<OpenApi> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-events-'));
    const store = SqliteStore.open(path.join(dir, 'state.db'));
    await store.migrate();
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(chunk.toString());
        done();
      },
    });
    const app = buildApi({
      engines: new Map(),
      store,
      logger: pino({ level: 'info' }, sink),
      registry: createRegistry(),
      events: { pollMs: 20, ...events },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const api = new OpenApi(logs, dir, store, app, url);
    // The real store's reads, counted as they pass.
    const listEvents = store.listEvents.bind(store);
    store.listEvents = async (filter: EventFilter): Promise<EventRow[]> => {
      const rows = await listEvents(filter);
      if (filter.newest) api.newestReads.push(rows.length);
      return rows;
    };
    return api;
  }

  addEvent(
    service: string,
    type: string,
    data: Record<string, unknown> = {},
    releaseId: number | null = null,
  ): Promise<EventRow> {
    return this.store.addEvent({ service, releaseId, at: 0, type, message: '', data });
  }

  async close(): Promise<void> {
    await this.app.close();
    await this.store.close().catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One SSE client over its own connection, keeping all it was sent. */
class SseClient {
  text = '';
  status = 0;
  ended = false;
  private readonly request: http.ClientRequest;

  private constructor(url: string, headers: Record<string, string>) {
    this.request = http.get(url, { agent: false, headers }, (res) => {
      this.status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (this.text += chunk));
      res.on('close', () => (this.ended = true));
    });
    this.request.on('error', () => (this.ended = true));
  }

  /** Connects and waits for the response's first bytes. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient(url, headers);
    await waitFor(`${url} answers`, () => client.text !== '' || client.ended);
    return client;
  }

  /** The ids of the events received, in order. */
  ids(): number[] {
    return [...this.text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  }

  close(): void {
    this.request.destroy();
  }
}

describe('the event stream', () => {
  let api: OpenApi | undefined;
  const clients: SseClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await api?.close();
    api = undefined;
  });

  it('delivers a new event to 200 clients connected at once', async () => {
    api = await OpenApi.start();
    const url = `${api.url}/api/v1/events`;
    clients.push(...(await Promise.all(Array.from({ length: 200 }, () => SseClient.open(url)))));
    expect(clients.every((c) => c.status === 200)).toBe(true);
    const e = await api.addEvent('web', 'deployed');
    await waitFor('every client has the event', () => clients.every((c) => c.ids().includes(e.id)));
    expect(clients.every((c) => c.text.includes(`id: ${e.id}\nevent: deployed\n`))).toBe(true);
  });

  it('drops a client that does not read, while the others keep receiving', async () => {
    api = await OpenApi.start({ maxBufferedBytes: 64 * 1024, pollMs: 50 });
    const readers = await Promise.all(
      Array.from({ length: 3 }, () => SseClient.open(`${api!.url}/api/v1/events`)),
    );
    clients.push(...readers);
    // Given a client that sends its request and then reads nothing.
    const port = Number(new URL(api.url).port);
    const stalled = net.connect({ host: '127.0.0.1', port });
    let stalledBytes = 0;
    let stalledClosed = false;
    stalled.on('data', (chunk: Buffer) => (stalledBytes += chunk.length));
    stalled.on('close', () => (stalledClosed = true));
    stalled.on('error', () => undefined);
    await new Promise<void>((resolve) => stalled.once('connect', resolve));
    stalled.write(`GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
    await waitFor('the stalled client is connected', () => stalledBytes > 0);
    stalled.pause();
    // When events far larger than the connection's buffers are written, each read by the readers.
    const blob = 'x'.repeat(256 * 1024);
    const big: EventRow[] = [];
    for (let i = 0; i < 48; i++) {
      const e = await api.addEvent('web', 'large', { blob });
      big.push(e);
      await waitFor(`the readers have event ${e.id}`, () => readers.every((r) => r.ids().includes(e.id)));
    }
    // Then the stalled client is dropped and logged, and the readers get every event and the next one.
    await waitFor('the drop is logged', () =>
      api!.logs.some((l) => l.includes('event stream client dropped')),
    );
    const dropped = JSON.parse(api.logs.find((l) => l.includes('event stream client dropped'))!) as {
      level: number;
      bufferedBytes: number;
    };
    expect(dropped.level).toBe(30);
    expect(dropped.bufferedBytes).toBeGreaterThan(64 * 1024);
    const after = await api.addEvent('web', 'after');
    await waitFor('the readers have every event', () => readers.every((r) => r.ids().includes(after.id)));
    for (const r of readers) expect(r.ids()).toEqual([...big.map((e) => e.id), after.id]);
    stalled.resume();
    await waitFor('the stalled connection ends', () => stalledClosed);
    expect(stalledBytes).toBeLessThan(big.length * blob.length);
  });

  it('refuses a client beyond the cap with 503 and takes one again when a client leaves', async () => {
    api = await OpenApi.start({ maxClients: 3 });
    const url = `${api.url}/api/v1/events`;
    clients.push(...(await Promise.all([1, 2, 3].map(() => SseClient.open(url)))));
    const refused = await fetch(url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { error: string }).error).toMatch(/3 event streams are open/);
    clients[0]!.close();
    let next: SseClient | undefined;
    await waitFor('a slot is free again', async () => {
      next?.close();
      next = await SseClient.open(url);
      return next.status === 200;
    });
    clients.push(next!);
  });

  it('replays the newest 50 matching events, newest last, reading only as many rows', async () => {
    api = await OpenApi.start();
    const ofRelease: EventRow[] = [];
    for (let i = 0; i < 300; i++) {
      const e = await api.addEvent('web', 'e', {}, i % 3 === 0 ? 7 : 8);
      if (e.releaseId === 7) ofRelease.push(e);
    }
    const all = await SseClient.open(`${api.url}/api/v1/events`);
    clients.push(all);
    await waitFor('the replay arrives', () => all.ids().length === SSE_REPLAY);
    expect(all.ids()).toEqual(Array.from({ length: SSE_REPLAY }, (_, i) => 251 + i));
    expect(api.newestReads).toEqual([SSE_REPLAY]);

    const one = await SseClient.open(`${api.url}/api/v1/events?release=7`);
    clients.push(one);
    await waitFor("the release's replay arrives", () => one.ids().length === SSE_REPLAY);
    expect(one.ids()).toEqual(ofRelease.slice(-SSE_REPLAY).map((e) => e.id));
    expect(api.newestReads).toEqual([SSE_REPLAY, SSE_REPLAY]);
    // A new event follows the replay, once; another release's does not.
    await api.addEvent('web', 'other', {}, 8);
    const next = await api.addEvent('web', 'next', {}, 7);
    await waitFor('the new event arrives', () => one.ids().includes(next.id));
    expect(one.ids()).toEqual([...ofRelease.slice(-SSE_REPLAY).map((e) => e.id), next.id]);
  });

  it('replays the newest 50 events the caller may see, reading back past those it may not', async () => {
    const secured = await startSecuredApi();
    try {
      const admin = await createFirstAdmin(secured.url, secured.security.setup.code!, 'root');
      const made = await fetch(`${secured.url}/api/v1/tokens`, {
        method: 'POST',
        headers: withSession(admin),
        body: JSON.stringify({ name: 'staging-viewer', role: 'viewer@staging' }),
      });
      expect(made.status).toBe(201);
      const { token } = (await made.json()) as { token: string };
      // Given 60 staging events, then 200 production events the token may not see.
      const staging: EventRow[] = [];
      for (let i = 0; i < 60; i++)
        staging.push(
          await secured.store.addEvent({
            service: 'web@staging',
            releaseId: null,
            at: i,
            type: 'e',
            message: '',
            data: {},
          }),
        );
      for (let i = 0; i < 200; i++)
        await secured.store.addEvent({
          service: 'web@prod',
          releaseId: null,
          at: i,
          type: 'e',
          message: '',
          data: {},
        });
      const client = await SseClient.open(`${secured.url}/api/v1/events`, authorized(token));
      clients.push(client);
      await waitFor('the replay arrives', () => client.ids().length === SSE_REPLAY);
      expect(client.status).toBe(200);
      expect(client.ids()).toEqual(staging.slice(-SSE_REPLAY).map((e) => e.id));
      expect(client.text).not.toContain('web@prod');
    } finally {
      for (const c of clients.splice(0)) c.close();
      await secured.close();
    }
  });

  it('ends the stream with an error event when the history cannot be read', async () => {
    api = await OpenApi.start();
    await api.addEvent('web', 'e');
    await api.store.close();
    const client = await SseClient.open(`${api.url}/api/v1/events`);
    clients.push(client);
    await waitFor('the stream ends', () => client.ended);
    expect(client.status).toBe(200);
    expect(client.text).toContain(
      'event: error\ndata: {"error":"could not read the event history; see the server log"}\n\n',
    );
    expect(api.logs.some((l) => l.includes('could not read the event history'))).toBe(true);
  });
});
