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
import type { EventFilter, EventRow, MeasurementRow, ReleaseSampleRow } from '../store/types.js';
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

  /** Stores a sample of `releaseId`, with figures of the canary only. */
  addSample(service: string, releaseId: number, at: number): Promise<ReleaseSampleRow> {
    return this.store.addSample({ releaseId, service, at, stable: null, canary: canaryFigures });
  }

  /** Stores a passing measurement of `releaseId`. */
  addMeasurement(service: string, releaseId: number, at: number): Promise<MeasurementRow> {
    return this.store.addMeasurement({
      releaseId,
      service,
      at,
      trigger: 'error_rate > 5% for 10s',
      metric: 'error_rate',
      version: 'v2',
      value: 0.01,
      threshold: 0.05,
      verdict: 'pass',
      windowMs: 10_000,
      requests: 40,
      message: 'error_rate 1% <= 5%',
      inputs: { errors: 0, requests: 40 },
    });
  }

  async close(): Promise<void> {
    await this.app.close();
    await this.store.close().catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A canary's figures over one sample interval. */
const canaryFigures = {
  version: 'v2',
  rps: 20,
  requests: 40,
  errors: 1,
  errorRate: 0.025,
  p50: 3.5,
  p99: 41,
};

/** One message as it came over the wire. */
interface Message {
  id: number | undefined;
  event: string | undefined;
  data: unknown;
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

  /** The messages received (comments left out), in order. */
  messages(): Message[] {
    return this.text
      .split('\n\n')
      .map((block) => block.split('\n').filter((line) => line !== '' && !line.startsWith(':')))
      .filter((lines) => lines.length > 0)
      .map((lines) => {
        const field = (name: string): string | undefined =>
          lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
        const id = field('id');
        const data = field('data');
        return {
          id: id === undefined ? undefined : Number(id),
          event: field('event'),
          data: data === undefined ? undefined : (JSON.parse(data) as unknown),
        };
      });
  }

  /** The messages of type `event`. */
  of(event: string): Message[] {
    return this.messages().filter((m) => m.event === event);
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

  it('pushes new samples and measurements without an id, to the clients whose filter takes them', async () => {
    api = await OpenApi.start();
    // Given a sample and a measurement stored before anyone listens: a new client gets no replay of them.
    await api.addSample('web', 7, 1000);
    await api.addMeasurement('web', 7, 1000);
    const ofRelease = await SseClient.open(`${api.url}/api/v1/events?release=7`);
    const ofOther = await SseClient.open(`${api.url}/api/v1/events?release=8`);
    const ofAll = await SseClient.open(`${api.url}/api/v1/events`);
    clients.push(ofRelease, ofOther, ofAll);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // When a sample and a measurement of release 7 are stored, then an event.
    const sample = await api.addSample('web', 7, 3000);
    const measurement = await api.addMeasurement('web', 7, 3000);
    const e = await api.addEvent('web', 'later', {}, 7);
    // Then the release's client gets each once, the sample and the measurement with no id line.
    await waitFor('the release client has all three', () => ofRelease.ids().includes(e.id));
    await waitFor('and the measurement', () => ofRelease.of('measurement').length === 1);
    expect(ofRelease.of('release.sample')).toEqual([
      {
        id: undefined,
        event: 'release.sample',
        data: { releaseId: 7, service: 'web', at: 3000, stable: null, canary: canaryFigures },
      },
    ]);
    expect(ofRelease.of('measurement')).toEqual([{ id: undefined, event: 'measurement', data: measurement }]);
    expect(ofRelease.text).toContain(`event: release.sample\ndata: {"releaseId":7,`);
    expect(ofRelease.text).not.toMatch(/id: \d+\nevent: (release\.sample|measurement)/);
    expect(sample.id).toBeGreaterThan(0);
    // Another release's client gets neither; a client without a filter gets both.
    await api.addSample('api', 8, 4000);
    await waitFor('the other release client has its sample', () => ofOther.of('release.sample').length === 1);
    expect(ofOther.of('release.sample')[0]!.data).toMatchObject({ service: 'api', releaseId: 8 });
    expect(ofOther.of('measurement')).toEqual([]);
    await waitFor('the unfiltered client has both samples', () => ofAll.of('release.sample').length === 2);
    expect(ofAll.of('measurement')).toHaveLength(1);
    expect(ofRelease.of('release.sample')).toHaveLength(1);
  });

  it('resumes after Last-Event-ID with samples interleaved, replaying stored events only', async () => {
    api = await OpenApi.start();
    const first = await SseClient.open(`${api.url}/api/v1/events?release=7`);
    clients.push(first);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const e1 = await api.addEvent('web', 'one', {}, 7);
    await api.addSample('web', 7, 1000);
    const e2 = await api.addEvent('web', 'two', {}, 7);
    await api.addSample('web', 7, 2000);
    await waitFor(
      'the first client has both events and samples',
      () => first.ids().includes(e2.id) && first.of('release.sample').length === 2,
    );
    expect(first.ids()).toEqual([e1.id, e2.id]);
    first.close();
    // While it is away: an event, a sample, an event.
    const e3 = await api.addEvent('web', 'three', {}, 7);
    await api.addSample('web', 7, 3000);
    const e4 = await api.addEvent('web', 'four', {}, 7);
    const resumed = await SseClient.open(`${api.url}/api/v1/events?release=7`, {
      'last-event-id': String(e2.id),
    });
    clients.push(resumed);
    await waitFor('the missed events arrive', () => resumed.ids().includes(e4.id));
    expect(resumed.ids()).toEqual([e3.id, e4.id]);
    // The missed sample is read through the API, not replayed; a new one arrives live.
    expect(resumed.of('release.sample')).toEqual([]);
    await api.addSample('web', 7, 4000);
    await waitFor('the new sample arrives', () => resumed.of('release.sample').length === 1);
    expect(resumed.of('release.sample')[0]!.data).toMatchObject({ at: 4000 });
    const e5 = await api.addEvent('web', 'five', {}, 7);
    await waitFor('the next event arrives', () => resumed.ids().includes(e5.id));
    expect(resumed.ids()).toEqual([e3.id, e4.id, e5.id]);
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
      // Samples too reach only the callers who may see their unit.
      const sample = { stable: null, canary: canaryFigures };
      await secured.store.addSample({ service: 'web@prod', releaseId: 1, at: 5, ...sample });
      await secured.store.addSample({ service: 'web@staging', releaseId: 2, at: 6, ...sample });
      await waitFor('the staging sample arrives', () => client.text.includes('event: release.sample'));
      expect(client.text).toContain('"service":"web@staging"');
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
