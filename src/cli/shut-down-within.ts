/**
 * The deadline on `shipcheck up`'s graceful shutdown. Stopping must not hang for ever on an instance
 * that ignores SIGTERM or a hook that never returns: past `server.shutdownTimeout` the process says
 * what it was waiting on and exits 1, which is safe because shipcheck is crash-only (see
 * crash-handlers.ts). A second SIGINT or SIGTERM is a person (or a supervisor) that will not wait.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import { formatDuration } from '../util/duration.js';

/** Signals that begin a graceful shutdown; the same signal again during it exits at once. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
/** The exit code of a shutdown that failed, ran out of time or was cut short. */
export const SHUTDOWN_FAILED_EXIT_CODE = 1;

/** How long a shutdown may take, where it logs, and how it ends the process when it gives up. */
export interface ShutdownOptions {
  timeoutMs: number;
  logger: Logger;
  /** Ends the process when the deadline passes or a second signal comes; `process.exit` by default. */
  exit?: (code: number) => void;
}

/**
 * Runs `close`, which reports each step it begins through `progress`. Resolves 0 when it finishes
 * within `timeoutMs`, 1 when it fails. When the deadline passes, or SIGINT/SIGTERM comes again first,
 * logs the step under way and calls `exit(1)` at once: what `close` still waits on may never end.
 */
export function shutDownWithin(
  close: (progress: (step: string) => void) => Promise<void>,
  options: ShutdownOptions,
): Promise<number> {
  const { logger, timeoutMs } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let step = 'starting to shut down';
  return new Promise<number>((resolve) => {
    let settled = false;
    const finish = (code: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
      resolve(code);
    };
    const giveUp = (message: string): void => {
      if (settled) return;
      logger.error({ waitingOn: step }, message);
      logger.flush();
      finish(SHUTDOWN_FAILED_EXIT_CODE);
      exit(SHUTDOWN_FAILED_EXIT_CODE);
    };
    const timer = setTimeout(
      () =>
        giveUp(
          `shutdown did not finish within server.shutdownTimeout (${formatDuration(timeoutMs)}): ` +
            `still ${step}; exiting ${SHUTDOWN_FAILED_EXIT_CODE}`,
        ),
      timeoutMs,
    );
    const onSignal = (signal: NodeJS.Signals): void =>
      giveUp(`${signal} during shutdown: exiting ${SHUTDOWN_FAILED_EXIT_CODE} at once, while ${step}`);
    for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
    const progress = (next: string): void => {
      step = next;
      logger.debug({ step }, `shutting down: ${step}`);
    };
    close(progress).then(
      () => finish(0),
      (err: unknown) => {
        if (settled) return;
        logger.error({ err, waitingOn: step }, `shutdown failed while ${step}: ${errorMessage(err)}`);
        finish(SHUTDOWN_FAILED_EXIT_CODE);
      },
    );
  });
}
