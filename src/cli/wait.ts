import { InvalidArgumentError } from 'commander';
import type { ReleaseView } from '../engine/views.js';
import { TERMINAL_STATES } from '../domain/release.js';
import { type Clock, systemClock } from '../util/clock.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import { type ChecklistView, checklistShape, eventsShape, releaseShape, statusShape } from './api-shapes.js';
import { ApiError, type ApiClient } from './client.js';
import { ExitCode, exitCodeFor, formatPhase, formatProgress } from './format.js';
import { holdOf } from './hold.js';
import type { Io } from './target.js';

/** How often `--wait` polls the API. */
const POLL_MS = 500;
/** Without a terminal, a figures line is printed this often. */
const PLAIN_FIGURES_EVERY_MS = 5000;
/** The longest `--timeout`: what a Node timer can count to (about 24 days). */
const MAX_TIMEOUT_MS = 2_147_483_647;
/** Erases the terminal line the cursor is on, and returns to its start. */
const CLEAR_LINE = '\r\x1b[2K';
/** What ended a wait before the release did. */
const TIMED_OUT = 'timeout';
const INTERRUPTED = 'interrupt';

/** How `--wait` follows a release. */
export interface WaitOptions {
  json?: boolean;
  /** Stop waiting after this long (exit 5); the release goes on. */
  timeoutMs?: number;
  /** Stop at the first hold for a person (exit 6) instead of waiting through it. */
  untilHeld?: boolean;
  /** Paces the plain figures lines; injected so tests need not sleep. */
  clock?: Clock;
}

/** Parses `--timeout DURATION` (500ms, 5s, 5m, 1h); commander reports a bad one as a usage error. */
export function parseTimeout(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new InvalidArgumentError('expected a duration such as 500ms, 5s, 5m or 1h');
  if (ms <= 0) throw new InvalidArgumentError('a timeout must be longer than 0s');
  if (ms > MAX_TIMEOUT_MS) throw new InvalidArgumentError(`at most ${formatDuration(MAX_TIMEOUT_MS)}`);
  return ms;
}

/**
 * Follows a release until it ends, printing its events and live figures (in place on a TTY, plain
 * lines otherwise), and says once per hold when it stops for a person. Returns the exit code: how the
 * release ended, or `held` (with `untilHeld`), `timedOut` or `interrupted` (Ctrl-C) when the wait
 * ended first; the release goes on in those cases.
 */
export async function waitForRelease(
  client: ApiClient,
  service: string,
  releaseId: number,
  io: Io,
  options: WaitOptions = {},
): Promise<number> {
  const clock = options.clock ?? systemClock;
  let afterId = 0;
  let lastFigures = Number.NEGATIVE_INFINITY;
  let inPlace = false;
  let last: ReleaseView | undefined;
  let announced: string | undefined;
  let checklist: { seen: string; view: ChecklistView | undefined } | undefined;
  const clearLine = (): void => {
    if (inPlace) process.stdout.write(CLEAR_LINE);
    inPlace = false;
  };
  // Notices are for a person; with --json, stdout carries only JSON.
  const notice = (line: string): void => {
    clearLine();
    if (options.json) io.err(line);
    else io.out(line);
  };
  const finish = (release: ReleaseView, code: number): number => {
    if (options.json) io.out(JSON.stringify(release));
    return code;
  };

  const stop = new AbortController();
  const onInterrupt = (): void => stop.abort(INTERRUPTED);
  process.once('SIGINT', onInterrupt);
  const timer =
    options.timeoutMs === undefined ? undefined : setTimeout(() => stop.abort(TIMED_OUT), options.timeoutMs);
  const request = { signal: stop.signal };
  try {
    for (;;) {
      // The release before its events: every event written before the state read is then printed,
      // so the steps that led to an ending (down migrations, a CDN purge) show before it.
      const release = await client.get(`/api/v1/releases/${releaseId}`, releaseShape, request);
      last = release;
      const { events } = await client.get(`/api/v1/releases/${releaseId}/events`, eventsShape, request);
      for (const e of events.filter((x) => x.id > afterId)) {
        afterId = e.id;
        if (!options.json) notice(`${new Date(e.at).toISOString().slice(11, 19)} ${e.message}`);
      }
      if (TERMINAL_STATES.includes(release.state)) {
        clearLine();
        if (!options.json)
          io.out(
            `release #${release.id} ${release.version}: ${release.state}${release.reason ? ` (${release.reason})` : ''}`,
          );
        return finish(release, exitCodeFor(release.state));
      }

      const seen = `${release.state}|${release.phase}|${release.reason ?? ''}`;
      if (release.state === 'waiting' && checklist?.seen !== seen) {
        const view = await client
          .get(`/api/v1/releases/${releaseId}/checklist`, checklistShape, request)
          .catch((err: unknown) => {
            // Without its checklist the hold is still told, from the release's reason.
            if (err instanceof ApiError) return undefined;
            throw err;
          });
        checklist = { seen, view };
      }
      const hold = holdOf(release, checklist?.view);
      if (hold && hold.key !== announced) notice(hold.message);
      announced = hold?.key;
      if (hold && options.untilHeld) return finish(release, ExitCode.held);

      if (!options.json) {
        const status = await client.get(`/api/v1/services/${service}`, statusShape, request);
        const line = formatProgress(status);
        if (io.isTTY) {
          clearLine();
          process.stdout.write(line.slice(0, (process.stdout.columns || 200) - 1));
          inPlace = true;
        } else if (clock.now() - lastFigures >= PLAIN_FIGURES_EVERY_MS) {
          lastFigures = clock.now();
          io.out(line);
        }
      }
      await sleep(POLL_MS, stop.signal);
    }
  } catch (err) {
    if (!stop.signal.aborted) throw err;
    return ended(stop.signal.reason, last);
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', onInterrupt);
  }

  function ended(why: unknown, release: ReleaseView | undefined): number {
    // Ctrl-C was echoed on the progress line (or a line of its own): wipe it, so the notice starts clean.
    if (io.isTTY) process.stdout.write(CLEAR_LINE);
    inPlace = false;
    const follow = `follow it with "shipcheck status"`;
    if (why === INTERRUPTED) {
      io.err(`release #${releaseId} goes on; ${follow}, or stop it with "shipcheck abort"`);
      return ExitCode.interrupted;
    }
    io.err(
      `timed out after ${formatDuration(options.timeoutMs ?? 0)}: release #${releaseId} ${release ? `is still ${whereIs(release)}` : 'has not been seen yet'}; it goes on: ${follow}`,
    );
    return release ? finish(release, ExitCode.timedOut) : ExitCode.timedOut;
  }
}

/** `waiting at the verify gate: 1 item to sign: x`, `paused (analysis inconclusive ...)`, `progressing at canary step 2/4, weight 10%`. */
function whereIs(release: ReleaseView): string {
  if (!release.reason) return `${release.state} at ${formatPhase(release)}`;
  // Most reasons already start with the state they explain ("waiting at ...", "paused by user").
  return release.reason.startsWith(release.state) ? release.reason : `${release.state} (${release.reason})`;
}

/** Resolves after `ms`, or rejects as soon as `signal` is aborted. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      signal.removeEventListener('abort', aborted);
      resolve();
    };
    const aborted = (): void => {
      clearTimeout(timer);
      reject(new Error('the wait was stopped', { cause: signal.reason }));
    };
    const timer = setTimeout(done, ms);
    if (signal.aborted) aborted();
    else signal.addEventListener('abort', aborted, { once: true });
  });
}
