/**
 * Live updates from the API's server-sent events stream. The browser's EventSource reconnects by
 * itself and sends Last-Event-ID, so the server replays what was missed; samples and measurements
 * carry no id, so after a reconnect a page reads them again through the API.
 */
import { useEffect, useRef } from 'react';
import { get } from '../api/client.js';
import type { Measurement, Sample, ShipcheckEvent } from '../api/types.js';

/** How long to wait before opening a stream the browser gave up on (the server's Retry-After is 5 s). */
const STREAM_RETRY_MS = 5000;

/** Every stored event type the stream sends (docs/api.md, "Events"). */
export const EVENT_TYPES = [
  'release.created',
  'release.canary',
  'release.weight',
  'release.step',
  'release.paused',
  'release.resumed',
  'release.promoted',
  'release.verifying',
  'release.rolling_back',
  'release.succeeded',
  'release.rolled_back',
  'release.aborted',
  'release.failed',
  'release.waiting',
  'release.gate_passed',
  'release.migrated',
  'release.migrations_down',
  'checklist.item',
  'version.retired',
  'alert.firing',
  'alert.resolved',
  'replica.leading',
] as const;

/** The stream's message types that are not stored events: live figures, pushed as they are taken. */
export const SAMPLE_EVENT = 'release.sample';
/** One trigger evaluation, pushed as it is stored. */
export const MEASUREMENT_EVENT = 'measurement';

/** What a page hears from the stream. */
export interface StreamHandlers {
  /** A stored event (each id once per connection). */
  onEvent?: (event: ShipcheckEvent) => void;
  /** A sample of a release's stable and canary figures. */
  onSample?: (sample: Sample & { releaseId: number; service: string }) => void;
  /** A trigger evaluation. */
  onMeasurement?: (measurement: Measurement & { releaseId: number; service: string }) => void;
  /** The stream (re)connected: read again what ids cannot replay. Not called for the first connection. */
  onReconnect?: () => void;
  /** Whether the stream is connected now. */
  onConnection?: (connected: boolean) => void;
}

/** The stream's URL for one release, one service, or everything the caller may see. */
export function streamUrl(filter: { release?: number; service?: string }): string {
  const search = new URLSearchParams();
  if (filter.release !== undefined) search.set('release', String(filter.release));
  if (filter.service !== undefined) search.set('service', filter.service);
  const text = search.toString();
  return `/api/v1/events${text ? `?${text}` : ''}`;
}

/**
 * Listens to the event stream at `url` while the component is mounted. Handlers may change on every
 * render; the connection does not.
 */
export function useEventStream(url: string | null, handlers: StreamHandlers): void {
  const latest = useRef(handlers);
  latest.current = handlers;
  useEffect(() => {
    if (url === null) return undefined;
    let source: EventSource;
    let opened = false;
    let closed = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const seen = new Set<number>();
    const onStored = (message: MessageEvent<string>): void => {
      const event = parse<ShipcheckEvent>(message.data);
      if (!event || seen.has(event.id)) return;
      seen.add(event.id);
      latest.current.onEvent?.(event);
    };
    const connect = (): void => {
      source = new EventSource(url, { withCredentials: true });
      for (const type of EVENT_TYPES) source.addEventListener(type, onStored);
      source.addEventListener(SAMPLE_EVENT, (message: MessageEvent<string>) => {
        const sample = parse<Sample & { releaseId: number; service: string }>(message.data);
        if (sample) latest.current.onSample?.(sample);
      });
      source.addEventListener(MEASUREMENT_EVENT, (message: MessageEvent<string>) => {
        const measurement = parse<Measurement & { releaseId: number; service: string }>(message.data);
        if (measurement) latest.current.onMeasurement?.(measurement);
      });
      source.onopen = () => {
        latest.current.onConnection?.(true);
        if (opened) latest.current.onReconnect?.();
        opened = true;
      };
      source.onerror = () => {
        latest.current.onConnection?.(false);
        // The browser retries a dropped stream by itself, but gives up on an answer that is not a
        // stream (401 once the session has ended, 503 when the server is full). Then ask whether
        // the session still holds: a 401 shows the sign-in page; otherwise try again in a while.
        if (source.readyState !== EventSource.CLOSED || closed) return;
        retry = setTimeout(() => {
          get('/api/v1/session')
            .then(() => {
              if (!closed) connect();
            })
            .catch(() => {
              if (!closed) retry = setTimeout(connect, STREAM_RETRY_MS);
            });
        }, STREAM_RETRY_MS);
      };
    };
    connect();
    return () => {
      closed = true;
      clearTimeout(retry);
      source.close();
    };
  }, [url]);
}

function parse<T>(data: string): T | undefined {
  try {
    return JSON.parse(data) as T;
  } catch {
    return undefined;
  }
}
