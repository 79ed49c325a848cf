/**
 * The log file of a local instance: a marker line written before each run, and the last line the
 * current run wrote, which explains an exit in the instance's lastError.
 */
import fs from 'node:fs';

/** Enough of a log file's end to hold its last line. */
const LOG_TAIL_BYTES = 4096;
/** Keeps a runaway log line from flooding reasons and status output. */
const MAX_LOG_LINE_CHARS = 300;
/** Written to the log before each run, so an exit is never explained by an earlier run's output. */
const RUN_MARKER = '--- shipcheck:';

/** The line written to the log before a run starts, naming the instance and its port. */
export function runMarkerLine(instanceId: string, port: number): string {
  return `${RUN_MARKER} ${new Date().toISOString()} ${instanceId} on port ${port}\n`;
}

/** The last line the current run (since the last marker) wrote to its log, if any. */
export function lastLogLine(logFile: string): string | undefined {
  let text: string;
  let truncated: boolean;
  try {
    const fd = fs.openSync(logFile, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(size, LOG_TAIL_BYTES);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, size - length);
      text = buffer.toString('utf8');
      truncated = size > length;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const markerAt = text.lastIndexOf(RUN_MARKER);
  const lines = text.split('\n');
  if (markerAt >= 0) {
    lines.splice(0, text.slice(0, markerAt).split('\n').length);
  } else if (truncated) {
    lines.shift(); // starts mid-line
  }
  const last = lines
    .map((line) => line.trim())
    .filter(Boolean)
    .at(-1);
  return last && last.length > MAX_LOG_LINE_CHARS ? `${last.slice(0, MAX_LOG_LINE_CHARS)}…` : last;
}
