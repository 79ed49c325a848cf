import { loadInstallation } from '../../config/installation.js';
import { startControlPlane } from '../../control-plane.js';
import { errorMessage } from '../../errors.js';
import { createLogger } from '../../logger.js';
import { installCrashHandlers } from '../crash-handlers.js';
import { shutDownWithin, STOP_SIGNALS } from '../shut-down-within.js';
import type { GlobalOptions, Io } from '../target.js';

/**
 * `shipcheck up`: runs the control plane until SIGINT or SIGTERM, then stops app instances and exits 0.
 * SIGUSR2 stops it too but leaves the app instances and the built-in proxy's process serving, for the
 * next `shipcheck up` to adopt (an upgrade without a gap in traffic).
 * SIGHUP reads the files again and adds, changes and removes services, as `shipcheck reload` does.
 * Exits 1 when the shutdown outlasts `server.shutdownTimeout`, on a second SIGINT/SIGTERM during it,
 * and on an unhandled rejection or uncaught exception (crash-only: a supervisor restarts it).
 */
/** The signal that stops the control plane and leaves the data plane (instances, proxy) serving. */
export const LEAVE_SERVING_SIGNAL: NodeJS.Signals = 'SIGUSR2';

export async function upCommand(opts: GlobalOptions, io: Io): Promise<number> {
  const installation = await loadInstallation(opts.config);
  const logger = createLogger({ debug: opts.debug ?? false });
  installCrashHandlers(logger);
  const plane = await startControlPlane(installation, logger);
  const services = installation.services.map((loaded) => loaded.config.service);
  logger.info(
    { api: plane.apiUrl, proxy: plane.proxyUrl, services },
    `shipcheck up: API ${plane.apiUrl}, ${services.length === 1 ? `traffic ${plane.proxyUrl}` : `services ${services.join(', ')}`}`,
  );
  if (!plane.authRequired) {
    logger.warn(
      `authentication is OFF (server.auth.required: false): anyone who reaches ${plane.apiUrl} can deploy, sign and roll back`,
    );
  }
  if (plane.setupCode !== undefined) {
    logger.info(
      `no users yet: create the first admin at ${(installation.server.publicUrl ?? plane.apiUrl).replace(/\/$/, '')}/setup#code=${plane.setupCode} (a one-time link), ` +
        `or run "shipcheck user add NAME --role admin --offline"`,
    );
  }
  void io;
  const onHangup = (): void => {
    // A bad file or a refused removal is logged and changes nothing; the control plane keeps running.
    plane.reload().catch((err: unknown) => logger.error(`reload (SIGHUP) failed: ${errorMessage(err)}`));
  };
  process.on('SIGHUP', onHangup);
  let stop: (signal: NodeJS.Signals) => void = () => undefined;
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    stop = resolve;
  });
  for (const signal of [...STOP_SIGNALS, LEAVE_SERVING_SIGNAL]) process.on(signal, stop);
  const signal = await stopped;
  const stopInstances = signal !== LEAVE_SERVING_SIGNAL;
  logger.info(
    { signal },
    stopInstances
      ? 'shutting down: stopping instances'
      : 'shutting down: leaving the app instances and the proxy serving for the next shipcheck up',
  );
  process.off('SIGHUP', onHangup);
  const shutdown = shutDownWithin((progress) => plane.close({ stopInstances, progress }), {
    timeoutMs: installation.server.shutdownTimeout,
    logger,
  });
  // Only now: with no listener at all, a second signal in between would kill the process outright.
  for (const signal of STOP_SIGNALS) process.off(signal, stop);
  const code = await shutdown;
  // Kept until here: a SIGUSR2 during the shutdown changes nothing rather than killing the process.
  process.off(LEAVE_SERVING_SIGNAL, stop);
  logger.flush();
  return code;
}
