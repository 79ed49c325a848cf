/**
 * The log file of a local instance: a marker line written before each run, the last line the
 * current run wrote, which explains an exit in the instance's lastError, and the tail of the current
 * run that the API shows.
 */
import fs from 'node:fs';
import { redactSecrets } from '../../../util/secrets.js';

/** Enough of a log file's end to hold its last line. */
const LOG_TAIL_BYTES = 4096;
/** Keeps a runaway log line from flooding reasons and status output. */
const MAX_LOG_LINE_CHARS = 300;
/** The most of a log file's end the tail reads, whatever the lines asked for: a bound on each request. */
export const LOG_TAIL_MAX_BYTES = 64 * 1024;
/** Written to the log before each run, so an exit is never explained by an earlier run's output. */
const RUN_MARKER = '--- shipcheck:';

/** The line written to the log before a run starts, naming the instance and its port. */
export function runMarkerLine(instanceId: string, port: number): string {
  return `${RUN_MARKER} ${new Date().toISOString()} ${instanceId} on port ${port}\n`;
}

/** The last `bytes` of a file as text, and whether the file holds more before them. */
function readEnd(logFile: string, bytes: number): { text: string; truncated: boolean } {
  const fd = fs.openSync(logFile, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    fs.readSync(fd, buffer, 0, length, size - length);
    return { text: buffer.toString('utf8'), truncated: size > length };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The lines of the current run (after the last marker) in a piece of the log's end; with no marker
 * in it, every whole line (a piece that starts mid-line loses its first).
 */
function currentRun(text: string, truncated: boolean): { lines: string[]; whole: boolean } {
  const markerAt = text.lastIndexOf(RUN_MARKER);
  const lines = text.split('\n');
  if (markerAt >= 0) {
    lines.splice(0, text.slice(0, markerAt).split('\n').length);
  } else if (truncated) {
    lines.shift(); // starts mid-line
  }
  // The text ends with a newline, or mid-line while the instance writes: no empty last line.
  if (lines.at(-1) === '') lines.pop();
  return { lines, whole: markerAt >= 0 || !truncated };
}

/** The last lines of an instance's current run, as the API shows them. */
export interface LogTail {
  /** Oldest first, secrets redacted. */
  lines: string[];
  /** Whether the current run wrote more lines before these (or they may have: the run began before the bytes read). */
  truncated: boolean;
}

/**
 * The last `count` lines the current run wrote to `logFile`, read from at most the file's last
 * {@link LOG_TAIL_MAX_BYTES}, with secrets redacted. Undefined when the file cannot be read.
 */
export function tailLog(logFile: string, count: number): LogTail | undefined {
  let end: { text: string; truncated: boolean };
  try {
    end = readEnd(logFile, LOG_TAIL_MAX_BYTES);
  } catch {
    return undefined;
  }
  const { lines, whole } = currentRun(end.text, end.truncated);
  const shown = lines.slice(-count);
  return { lines: shown.map(redactSecrets), truncated: shown.length < lines.length || !whole };
}

/** A line that states an error: `Error: listen EADDRINUSE ...`, `OSError: [Errno 98] ...`, `panic: ...`. */
const ERROR_HEADLINE = /^(?:Uncaught )?(?:[\w.$]*(?:Error|Exception)\b|panic:|fatal error:)/;
/** How far back from the end of a run its error headline is looked for: a crash's dump, not old request logs. */
const HEADLINE_LINES = 40;
/** What a runtime prints last that explains nothing: Node's version after an uncaught exception. */
const RUNTIME_BANNER = /^Node\.js v\d+\.\d+\.\d+$/;
/** A run that could not listen on the port it was given (Node's code, the C library's words). */
const PORT_TAKEN = /\bEADDRINUSE\b|address already in use/i;

/** How the current run of an instance ended, as its log tells. */
export interface RunEnd {
  /** The line that explains the exit: its error headline, else its last line; undefined for none. */
  line: string | undefined;
  /** Whether it said the port it was given was in use. */
  portTaken: boolean;
}

/** Reads how the current run (since the last marker) ended from the end of its log. */
export function runEnd(logFile: string): RunEnd {
  let end: { text: string; truncated: boolean };
  try {
    end = readEnd(logFile, LOG_TAIL_BYTES);
  } catch {
    return { line: undefined, portTaken: false };
  }
  const lines = currentRun(end.text, end.truncated)
    .lines.map((line) => line.trim())
    .filter((line) => line !== '' && !RUNTIME_BANNER.test(line));
  const last = lines.slice(-HEADLINE_LINES);
  const line = last.findLast((l) => ERROR_HEADLINE.test(l)) ?? last.at(-1);
  return {
    line: line && line.length > MAX_LOG_LINE_CHARS ? `${line.slice(0, MAX_LOG_LINE_CHARS)}…` : line,
    portTaken: last.some((l) => PORT_TAKEN.test(l)),
  };
}

/** The line that explains how the current run (since the last marker) ended, if any (see runEnd). */
export function lastLogLine(logFile: string): string | undefined {
  return runEnd(logFile).line;
}
