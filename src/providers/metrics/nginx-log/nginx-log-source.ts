import { open, stat, type FileHandle } from 'node:fs/promises';
import { ProviderError } from '../../../errors.js';
import { systemClock, type Clock } from '../../../util/clock.js';
import { RequestMetrics } from '../builtin/request-metrics.js';
import type { MetricSource, WindowStats } from '../types.js';
import { parseAccessLogLine, type LineProblem } from './access-log-line.js';
import { UnusableLines } from './unusable-lines.js';

// The format is what users of this source configure nginx with, so it is importable from here too.
export { LOG_FORMAT } from './access-log-line.js';

/** New lines show up in window() within this delay; nginx writes each line when its request ends. */
const DEFAULT_POLL_INTERVAL_MS = 250;
const READ_CHUNK_BYTES = 64 * 1024;
/** A longer line is not one of ours; dropping it keeps a log without newlines from growing memory. */
const MAX_LINE_BYTES = 64 * 1024;
const NEWLINE = 0x0a;
const TOO_LONG: LineProblem = { field: 'line', problem: 'too-long' };

/** Where the source warns that lines arrive in a format it cannot read; pino fits. */
export interface NginxLogLogger {
  warn(obj: object, msg: string): void;
}

/** Options of the nginx access-log metric source. */
export interface NginxLogMetricSourceOptions {
  /** The access log written with LOG_FORMAT (or any JSON format with its fields). */
  accessLog: string;
  /** The version an upstream address belongs to, or undefined for one shipcheck does not manage. */
  versionOf: (upstreamAddr: string) => string | undefined;
  clock?: Clock;
  /** How often the log is read; DEFAULT_POLL_INTERVAL_MS by default. */
  pollIntervalMs?: number;
  /** Told once per stretch of lines that cannot be used; silent without one. */
  logger?: NginxLogLogger;
}

/**
 * Per-version request metrics read from nginx's JSON access log: tails the file from its end at
 * start(), follows rotation (a new inode) and truncation (a shorter file), and records each request
 * under the version of the upstream that answered it, at the time the line is read.
 */
export class NginxLogMetricSource implements MetricSource {
  readonly type = 'nginx-log';
  private readonly metrics: RequestMetrics;
  private readonly clock: Clock;
  private readonly unusable: UnusableLines;
  private readonly pollIntervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private handle: FileHandle | undefined;
  private inode: number | undefined;
  private offset = 0;
  /** Bytes after the last newline, waiting for the rest of their line. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private polling: Promise<void> | undefined;
  private lastError: Error | undefined;

  constructor(private readonly options: NginxLogMetricSourceOptions) {
    this.clock = options.clock ?? systemClock;
    this.metrics = new RequestMetrics({ clock: this.clock });
    this.unusable = new UnusableLines(options.accessLog);
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  }

  /** Opens the log at its current end (or waits for it to appear) and starts tailing. Idempotent. */
  async start(): Promise<void> {
    if (this.timer !== undefined) return;
    try {
      const info = await stat(this.options.accessLog);
      this.handle = await open(this.options.accessLog, 'r');
      this.inode = info.ino;
      // Lines already there belong to earlier traffic, not to the window being analysed.
      this.offset = info.size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.lastError = err as Error;
    }
    this.timer = setInterval(() => void this.poll(), this.pollIntervalMs);
    this.timer.unref();
  }

  /** Stops tailing and closes the file; the figures read so far stay readable. Idempotent. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.polling;
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }

  /** Reads every complete line written since the last read; safe to call at any time, e.g. before window(). */
  poll(): Promise<void> {
    this.polling ??= this.readNew().finally(() => (this.polling = undefined));
    return this.polling;
  }

  /**
   * Stats of `version` over the last `windowMs`. Throws ProviderError while the log cannot be read, and
   * when lines arrived in the window but none could be used, saying why and which log_format to add.
   */
  async window(version: string, windowMs: number): Promise<WindowStats> {
    if (this.lastError !== undefined) {
      throw new ProviderError(`metrics.accessLog ${this.options.accessLog}: ${this.lastError.message}`, {
        cause: this.lastError,
      });
    }
    const problem = this.unusable.problemSince(this.clock.now() - windowMs);
    if (problem !== undefined) throw new ProviderError(problem);
    return this.metrics.window(version, windowMs);
  }

  private async readNew(): Promise<void> {
    try {
      let info;
      try {
        info = await stat(this.options.accessLog);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        // Rotated away and not recreated yet: finish the old file, then wait for the new one.
        if (this.handle !== undefined) await this.drain();
        await this.reset();
        this.lastError = undefined;
        return;
      }
      if (this.handle !== undefined && info.ino !== this.inode) {
        // Rotated: nginx may have written to the old file until it reopened; read that first.
        await this.drain();
        await this.reset();
      }
      if (this.handle === undefined) {
        this.handle = await open(this.options.accessLog, 'r');
        this.inode = info.ino;
        this.offset = 0;
      }
      if (info.size < this.offset) {
        // Truncated in place (copytruncate): everything now in the file is new.
        this.offset = 0;
        this.clearPartial();
      }
      await this.drain();
      this.lastError = undefined;
    } catch (err) {
      this.lastError = err as Error;
    }
    const warning = this.unusable.takeWarning();
    if (warning !== undefined) {
      this.options.logger?.warn({ accessLog: this.options.accessLog }, `nginx access log: ${warning}`);
    }
  }

  /** Reads the open file from the offset to its end, recording complete lines. */
  private async drain(): Promise<void> {
    const handle = this.handle;
    if (handle === undefined) return;
    const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK_BYTES, this.offset);
      if (bytesRead === 0) return;
      this.offset += bytesRead;
      this.consume(buffer.subarray(0, bytesRead));
    }
  }

  private consume(chunk: Buffer): void {
    let start = 0;
    for (let newline = chunk.indexOf(NEWLINE); newline >= 0; newline = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, newline);
      start = newline + 1;
      if (this.partialBytes > 0) {
        const overflow = this.partialBytes + piece.length > MAX_LINE_BYTES;
        const line = overflow ? undefined : Buffer.concat([...this.partial, piece]).toString('utf8');
        this.clearPartial();
        if (line !== undefined) this.recordLine(line);
        else this.unusable.unusable(TOO_LONG, this.clock.now());
      } else if (piece.length <= MAX_LINE_BYTES) this.recordLine(piece.toString('utf8'));
      else this.unusable.unusable(TOO_LONG, this.clock.now());
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.partialBytes + rest.length > MAX_LINE_BYTES) {
        // Keep a marker that the line is too long, so its tail after the next newline is dropped too.
        this.partial = [];
        this.partialBytes = MAX_LINE_BYTES + 1;
      } else {
        // Copied: the read buffer is reused for the next chunk.
        this.partial.push(Buffer.from(rest));
        this.partialBytes += rest.length;
      }
    }
  }

  private recordLine(line: string): void {
    const parsed = parseAccessLogLine(line);
    if (parsed.kind === 'ignored') return;
    if (parsed.kind === 'unusable') {
      this.unusable.unusable(parsed.problem, this.clock.now());
      return;
    }
    this.unusable.usable(this.clock.now());
    const { entry } = parsed;
    const version = this.options.versionOf(entry.upstreamAddr);
    if (version !== undefined) this.metrics.record(version, entry.status, entry.latencyMs);
  }

  private clearPartial(): void {
    this.partial = [];
    this.partialBytes = 0;
  }

  private async reset(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
    this.inode = undefined;
    this.offset = 0;
    this.clearPartial();
  }
}
