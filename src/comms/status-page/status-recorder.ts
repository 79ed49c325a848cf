/**
 * The timer `shipcheck up` runs while the installation has a status page: every interval it starts
 * and completes maintenances that are due and records each component's status where it changed, so
 * the uptime bars and `updated_at` follow the units even when nobody reads the page. One pass at a
 * time; a failed pass is logged, not thrown.
 */
import type { Logger } from 'pino';
import type { StatusPage } from './status-page.js';

/** How often the statuses are recorded by default. */
export const RECORD_INTERVAL_MS = 15_000;

/** What a StatusRecorder needs. */
export interface StatusRecorderOptions {
  /** The page now (it changes on reload); undefined when the installation has none. */
  page: () => StatusPage | undefined;
  logger: Logger;
  intervalMs?: number;
}

/** Records component status transitions in the background. */
export class StatusRecorder {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(private readonly options: StatusRecorderOptions) {}

  /** Runs a first pass now, then one every interval. */
  start(): void {
    void this.runOnce();
    this.timer = setInterval(() => void this.runOnce(), this.options.intervalMs ?? RECORD_INTERVAL_MS);
    this.timer.unref();
  }

  /** One pass; the components that changed, or undefined when none ran (one is running, or stopped). */
  async runOnce(): Promise<{ component: string; status: string }[] | undefined> {
    const page = this.options.page();
    if (!page || this.running || this.stopped) return undefined;
    const pass = page
      .record()
      .then((changed) => {
        for (const c of changed)
          this.options.logger.info(
            { component: c.component, status: c.status },
            `status page: ${c.component} is ${c.status}`,
          );
        return changed;
      })
      .catch((err: unknown) => {
        this.options.logger.error({ err }, 'recording the status page components failed');
        return undefined;
      })
      .finally(() => (this.running = undefined));
    this.running = pass;
    return pass;
  }

  /** Stops the timer and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }
}
