/**
 * The server-sent events stream (`GET /api/v1/events`): one hub reads the store for every client,
 * hears this replica's engines directly, and fans each event out to the clients, each with its own
 * filter. Beside the stored events it pushes release samples and measurements as they are stored,
 * without ids: Last-Event-ID names stored events only, and a client that reconnects reads what it
 * missed of those through the API (docs/decisions/014). A client that cannot keep up is dropped
 * instead of buffered without end.
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import type { EventFilter, EventRow, MeasurementRow, ReleaseSampleRow, Store } from '../store/types.js';
import { redactSecrets } from '../util/secrets.js';

/** Events replayed to a new client that sends no Last-Event-ID. */
export const SSE_REPLAY = 50;
/** Clients one API serves at once; beyond it a new one gets 503. */
export const SSE_MAX_CLIENTS = 500;
/** Bytes a client may leave unread in its connection's buffer before it is dropped. */
export const SSE_MAX_BUFFERED_BYTES = 1024 * 1024;
/** Comment lines keep idle SSE connections open through proxies. */
const SSE_HEARTBEAT_MS = 15_000;
/** How often the hub looks in the store for events other replicas wrote. */
const SSE_POLL_MS = 250;
/**
 * Concurrent writers may commit event ids out of order; the hub looks this many ids back for late
 * ones and sends each id once.
 */
const SSE_REORDER_WINDOW = 200;
/** Rows one store read returns, for the hub's poll and for each page of a resumed history. */
const SSE_PAGE = 1000;
/** Events a client still loading its history may hold back; past it the client is dropped. */
const SSE_MAX_PENDING = 10_000;
/** Seconds a client refused for want of room is told to wait. */
const SSE_RETRY_AFTER_S = 5;
/** The stream message type of a release sample. */
export const SAMPLE_MESSAGE = 'release.sample';
/** The stream message type of a measurement. */
export const MEASUREMENT_MESSAGE = 'measurement';

/** Limits of the stream; each has a default, tests lower them. */
export interface EventHubLimits {
  /** Clients at once (default {@link SSE_MAX_CLIENTS}). */
  maxClients?: number;
  /** Unread bytes per client before it is dropped (default {@link SSE_MAX_BUFFERED_BYTES}). */
  maxBufferedBytes?: number;
  /** Milliseconds between reads of the store (default 250). */
  pollMs?: number;
}

/** What the hub reads from and whom it tells. */
export interface EventHubOptions extends EventHubLimits {
  store: Store;
  /** The engines of this replica, by unit; read again on every poll, so a reload is followed. */
  engines: ReadonlyMap<string, Engine>;
  logger: Logger;
}

/** What one client asked for. */
export interface StreamRequest {
  /** Only this release's events. */
  releaseId?: number;
  /** Only this service's events (its environments' too). */
  service?: string;
  /** The Last-Event-ID the client sent: resume after it instead of replaying the newest few. */
  lastId?: number;
  /** Whether the caller may see a unit's events. */
  visible: (unit: string) => boolean;
}

/** One event as it goes on the wire, serialised once for every client. */
function frameOf(e: EventRow): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${redactSecrets(JSON.stringify(e))}\n\n`;
}

/** A sample as it goes on the wire: no id, so Last-Event-ID keeps naming stored events only. */
function sampleFrame(s: ReleaseSampleRow): string {
  const data = { releaseId: s.releaseId, service: s.service, at: s.at, stable: s.stable, canary: s.canary };
  return `event: ${SAMPLE_MESSAGE}\ndata: ${redactSecrets(JSON.stringify(data))}\n\n`;
}

/** A measurement as it goes on the wire, the row whole; no id, as samples. */
function measurementFrame(m: MeasurementRow): string {
  return `event: ${MEASUREMENT_MESSAGE}\ndata: ${redactSecrets(JSON.stringify(m))}\n\n`;
}

/**
 * Where the hub stands in one table it reads by row id: concurrent writers may commit ids out of
 * order, so each read looks {@link SSE_REORDER_WINDOW} ids back and each id passes once.
 */
class RowCursor {
  /** No id at or below this one passes again. */
  floor = 0;
  private highest = 0;
  /** Ids passed above `floor`. */
  private readonly seen = new Set<number>();

  /** Starts from `last`, the table's highest id now: nothing written before passes. */
  start(last: number): void {
    this.floor = Math.max(this.floor, last);
    this.highest = Math.max(this.highest, last);
    this.seen.clear();
  }

  /** The id a read of the table starts after. */
  get readAfter(): number {
    return Math.max(this.floor, this.highest - SSE_REORDER_WINDOW);
  }

  /** Whether `id` is new; it is not again. */
  accept(id: number): boolean {
    if (id <= this.floor || this.seen.has(id)) return false;
    this.seen.add(id);
    this.highest = Math.max(this.highest, id);
    return true;
  }

  /** After a read: ids older than the window no longer pass. */
  advance(): void {
    this.floor = Math.max(this.floor, this.highest - SSE_REORDER_WINDOW);
    for (const id of this.seen) if (id <= this.floor) this.seen.delete(id);
  }
}

/** What a message without an id concerns, for the clients' filters. */
interface Concerns {
  service: string;
  releaseId: number | null;
}

/** One connected client: its filter, what it was already sent, and its connection. */
class StreamClient {
  /** Ids up to here were replayed or are older than the replay. */
  floor = 0;
  /** Ids of the history sent, until the hub can no longer deliver them again. */
  private readonly replayed = new Set<number>();
  private replayedMax = 0;
  /** Messages held back while the history loads; `e` is absent for messages without an id. */
  private pending: { e?: EventRow; frame: string }[] | undefined = [];
  private gone = false;

  constructor(
    readonly res: ServerResponse,
    readonly request: StreamRequest,
    private readonly maxBufferedBytes: number,
    private readonly logger: Logger,
  ) {
    res.on('close', () => {
      this.gone = true;
    });
  }

  get closed(): boolean {
    return this.gone || this.res.destroyed;
  }

  matches(e: Concerns): boolean {
    const { releaseId, service, visible } = this.request;
    return (
      visible(e.service) &&
      (releaseId === undefined || e.releaseId === releaseId) &&
      (service === undefined || e.service === service || e.service.startsWith(`${service}@`))
    );
  }

  /** Sends a history event, waiting while the connection's buffer is full. */
  async replay(e: EventRow): Promise<void> {
    if (this.closed || !this.matches(e) || e.id <= this.floor || this.replayed.has(e.id)) return;
    this.replayed.add(e.id);
    this.replayedMax = Math.max(this.replayedMax, e.id);
    this.res.write(frameOf(e));
    if (this.res.writableLength > this.maxBufferedBytes && !this.closed)
      await Promise.race([once(this.res, 'drain'), once(this.res, 'close')]);
  }

  /** The history went out: events held back meanwhile follow it. */
  live(): void {
    const held = this.pending ?? [];
    this.pending = undefined;
    for (const { e, frame } of held) {
      if (e) this.deliver(e, frame, 0);
      else this.write(frame);
    }
  }

  /** Sends a message without an id (a sample, a measurement) when the client's filter takes it. */
  push(about: Concerns, frame: string): void {
    if (this.closed || !this.matches(about)) return;
    if (this.pending) {
      this.pending.push({ frame });
      if (this.pending.length > SSE_MAX_PENDING)
        this.drop('too many events arrived while it loaded its history');
      return;
    }
    this.write(frame);
  }

  /**
   * Sends an event the hub heard of, once; `hubFloor` is the id at or below which the hub sends
   * nothing more, so the history's ids need not be remembered past it.
   */
  deliver(e: EventRow, frame: string, hubFloor: number): void {
    if (this.closed) return;
    if (this.pending) {
      if (!this.matches(e)) return;
      this.pending.push({ e, frame });
      if (this.pending.length > SSE_MAX_PENDING)
        this.drop('too many events arrived while it loaded its history');
      return;
    }
    if (hubFloor >= this.replayedMax) this.replayed.clear();
    if (!this.matches(e) || e.id <= this.floor || this.replayed.has(e.id)) return;
    this.write(frame);
  }

  /** Writes `text`; what the client leaves unread is looked at by {@link StreamClient.checkBacklog}. */
  write(text: string): void {
    if (this.closed) return;
    this.res.write(text);
  }

  /**
   * Drops the client when it still leaves more than the bound unread. Looked at once a poll rather
   * than on each write, so a burst a reader takes in quickly does not cost it its stream.
   */
  checkBacklog(): void {
    if (!this.closed && !this.pending && this.res.writableLength > this.maxBufferedBytes)
      this.drop(`more than ${this.maxBufferedBytes} bytes left unread`);
  }

  /** Ends the stream with an `error` event the client can show. */
  fail(message: string): void {
    if (this.closed) return;
    this.res.end(`event: error\ndata: ${JSON.stringify({ error: message })}\n\n`);
  }

  private drop(why: string): void {
    this.logger.info(
      {
        releaseId: this.request.releaseId,
        service: this.request.service,
        bufferedBytes: this.res.writableLength,
      },
      `event stream client dropped: ${why}`,
    );
    this.gone = true;
    this.res.destroy();
  }
}

/**
 * Serves every SSE client of one API: a single store poll and a single listener per engine, fanned
 * out to the clients. At each poll, a client that left more than the bound unread is dropped. Start with `new EventHub(...)`, hand it requests with {@link EventHub.stream},
 * and {@link EventHub.close} it with the server.
 */
export class EventHub {
  private readonly clients = new Set<StreamClient>();
  private readonly maxClients: number;
  private readonly maxBufferedBytes: number;
  /** Where the hub stands in each table it reads. */
  private readonly cursors = {
    events: new RowCursor(),
    samples: new RowCursor(),
    measurements: new RowCursor(),
  };
  /** Where the hub stands in the store, read when the first client of a quiet spell arrives. */
  private ready: Promise<void> | undefined;
  private synced = false;
  private polling = false;
  private pollFailing = false;
  private readonly listening = new Set<Engine>();
  private readonly onEvent = (e: EventRow): void => this.publish(e);
  private readonly onSample = (sample: ReleaseSampleRow): void => this.publishSample(sample);
  private readonly poller: NodeJS.Timeout;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly options: EventHubOptions) {
    this.maxClients = options.maxClients ?? SSE_MAX_CLIENTS;
    this.maxBufferedBytes = options.maxBufferedBytes ?? SSE_MAX_BUFFERED_BYTES;
    this.poller = setInterval(() => void this.poll(), options.pollMs ?? SSE_POLL_MS);
    this.poller.unref();
    this.heartbeat = setInterval(() => {
      for (const client of this.clients) client.write(': keep-alive\n\n');
    }, SSE_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Clients connected now, those still loading their history included. */
  get size(): number {
    return this.clients.size;
  }

  /**
   * Streams events to `reply` until the client leaves: the history first (after Last-Event-ID, or
   * the newest {@link SSE_REPLAY}), then each new event. Answers 503 when the hub is full; a failed
   * history read ends the stream with an `error` event.
   */
  async stream(reply: FastifyReply, request: StreamRequest): Promise<void> {
    if (this.clients.size >= this.maxClients) {
      void reply
        .status(503)
        .header('retry-after', String(SSE_RETRY_AFTER_S))
        .send({
          error: `${this.maxClients} event streams are open, the most this server keeps; try again later`,
        });
      return;
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const client = new StreamClient(res, request, this.maxBufferedBytes, this.options.logger);
    this.clients.add(client);
    res.on('close', () => this.leave(client));
    this.follow();
    res.write(': connected\n\n');
    try {
      this.ready ??= this.sync().catch((err: unknown) => {
        this.ready = undefined;
        throw err;
      });
      await this.ready;
      await this.sendHistory(client);
    } catch (err) {
      this.options.logger.error({ err }, 'event stream could not read the event history');
      client.fail('could not read the event history; see the server log');
      return;
    }
    client.live();
  }

  /** Ends every stream and stops reading the store. */
  close(): void {
    clearInterval(this.poller);
    clearInterval(this.heartbeat);
    for (const engine of this.listening) this.unlisten(engine);
    this.listening.clear();
    for (const client of this.clients) client.res.end();
    this.clients.clear();
  }

  private leave(client: StreamClient): void {
    this.clients.delete(client);
    if (this.clients.size > 0) return;
    // Nobody listens: the next client starts from where the store is then, not from a backlog.
    this.ready = undefined;
    this.synced = false;
  }

  private async sync(): Promise<void> {
    const { store } = this.options;
    const [events, samples, measurements] = await Promise.all([
      store.lastEventId(),
      store.lastSampleId(),
      store.lastMeasurementId(),
    ]);
    this.cursors.events.start(events);
    this.cursors.samples.start(samples);
    this.cursors.measurements.start(measurements);
    this.synced = true;
  }

  private unlisten(engine: Engine): void {
    engine.events.off('event', this.onEvent);
    engine.events.off('sample', this.onSample);
  }

  /** Listens to the engines the API serves now, and to no others. */
  private follow(): void {
    const current = new Set(this.options.engines.values());
    for (const engine of this.listening)
      if (!current.has(engine)) {
        this.unlisten(engine);
        this.listening.delete(engine);
      }
    for (const engine of current)
      if (!this.listening.has(engine)) {
        engine.events.on('event', this.onEvent);
        engine.events.on('sample', this.onSample);
        this.listening.add(engine);
      }
  }

  private async sendHistory(client: StreamClient): Promise<void> {
    const { releaseId, service, lastId, visible } = client.request;
    const filter: Omit<EventFilter, 'limit'> = {
      ...(releaseId === undefined ? {} : { releaseId }),
      ...(service === undefined ? {} : { service, withEnvironments: true }),
    };
    const { store } = this.options;
    if (lastId !== undefined) {
      client.floor = lastId;
      // Page forward until caught up; the hub delivers whatever is written after that.
      for (let after = lastId; !client.closed;) {
        const page = await store.listEvents({ ...filter, afterId: after, limit: SSE_PAGE });
        for (const e of page) await client.replay(e);
        if (page.length < SSE_PAGE) return;
        after = page[page.length - 1]!.id;
      }
      return;
    }
    // The newest few the caller may see: read backwards a page at a time, only as far as needed.
    const picked: EventRow[] = [];
    for (let before: number | undefined; picked.length < SSE_REPLAY;) {
      const page = await store.listEvents({
        ...filter,
        ...(before === undefined ? {} : { beforeId: before }),
        newest: true,
        limit: SSE_REPLAY,
      });
      picked.unshift(...page.filter((e) => visible(e.service)).slice(-(SSE_REPLAY - picked.length)));
      if (page.length < SSE_REPLAY) break;
      before = page[0]!.id;
    }
    // Older events are not sent later either.
    client.floor = (picked[0]?.id ?? 1) - 1;
    for (const e of picked) await client.replay(e);
  }

  private async poll(): Promise<void> {
    if (this.polling || !this.synced || this.clients.size === 0) return;
    this.polling = true;
    for (const client of this.clients) client.checkBacklog();
    this.follow();
    try {
      const { store } = this.options;
      const { events, samples, measurements } = this.cursors;
      // Read together, published in this order: events, then samples, then measurements.
      const [newEvents, newSamples, newMeasurements] = await Promise.all([
        store.listEvents({ afterId: events.readAfter, limit: SSE_PAGE }),
        store.listSamplesAfter(samples.readAfter, SSE_PAGE),
        store.listMeasurementsAfter(measurements.readAfter, SSE_PAGE),
      ]);
      for (const e of newEvents) this.publish(e);
      for (const sample of newSamples) this.publishSample(sample);
      for (const m of newMeasurements) this.publishMeasurement(m);
      events.advance();
      samples.advance();
      measurements.advance();
      if (this.pollFailing) this.options.logger.info('event stream reads the store again');
      this.pollFailing = false;
    } catch (err) {
      // Said once per outage: the poll runs four times a second.
      if (!this.pollFailing) this.options.logger.warn({ err }, 'event stream cannot read the store');
      this.pollFailing = true;
    } finally {
      this.polling = false;
    }
  }

  private publish(e: EventRow): void {
    if (!this.synced || !this.cursors.events.accept(e.id)) return;
    let frame: string | undefined;
    for (const client of this.clients) {
      // Serialised only when some client might want it.
      frame ??= frameOf(e);
      client.deliver(e, frame, this.cursors.events.floor);
    }
  }

  private publishSample(sample: ReleaseSampleRow): void {
    if (!this.synced || !this.cursors.samples.accept(sample.id)) return;
    let frame: string | undefined;
    for (const client of this.clients) client.push(sample, (frame ??= sampleFrame(sample)));
  }

  private publishMeasurement(m: MeasurementRow): void {
    if (!this.synced || !this.cursors.measurements.accept(m.id)) return;
    let frame: string | undefined;
    for (const client of this.clients) client.push(m, (frame ??= measurementFrame(m)));
  }
}
