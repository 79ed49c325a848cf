/**
 * Crash-only: a long-running command (`shipcheck up`, `shipcheck demo`) that meets an error nobody
 * handled logs it with its cause and exits 1 rather than running on in an unknown state. Nothing is
 * lost by that: every step is persisted before it is taken, kill -9 is already safe, and a supervisor
 * (systemd, a container runtime) starts the process again.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';

/** The exit code after an unhandled rejection or an uncaught exception. */
export const CRASH_EXIT_CODE = 1;

/**
 * Installs handlers for `unhandledRejection` and `uncaughtException` that log the error (pino `err`,
 * so the stack and the `cause` chain are kept) at fatal level, flush the log and call `exit(1)`.
 * Returns a function that removes them. Client commands do not install them: their errors already
 * reach the CLI's one-line message and exit code.
 */
export function installCrashHandlers(
  logger: Logger,
  exit: (code: number) => void = (code) => process.exit(code),
): () => void {
  const crash = (what: string, err: unknown): void => {
    logger.fatal(
      { err },
      `${what}: ${errorMessage(err)}; exiting ${CRASH_EXIT_CODE} for a supervisor to restart shipcheck`,
    );
    logger.flush();
    exit(CRASH_EXIT_CODE);
  };
  const onRejection = (reason: unknown): void => crash('unhandled rejection', reason);
  const onException = (err: Error): void => crash('uncaught exception', err);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}
