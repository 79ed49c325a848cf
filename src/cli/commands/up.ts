import { loadInstallation } from '../../config/installation.js';
import { startControlPlane } from '../../control-plane.js';
import { errorMessage } from '../../errors.js';
import { createLogger } from '../../logger.js';
import type { GlobalOptions, Io } from '../target.js';

/**
 * `shipcheck up`: runs the control plane until SIGINT or SIGTERM, then stops app instances and exits 0.
 * SIGHUP reads the files again and adds, changes and removes services, as `shipcheck reload` does.
 */
export async function upCommand(opts: GlobalOptions, io: Io): Promise<number> {
  const installation = await loadInstallation(opts.config);
  const logger = createLogger({ debug: opts.debug ?? false });
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
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'shutting down: stopping instances');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  process.off('SIGHUP', onHangup);
  await plane.close({ stopInstances: true });
  logger.flush();
  return 0;
}
