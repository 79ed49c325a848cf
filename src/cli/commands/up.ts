import { loadConfig } from '../../config/loader.js';
import { startControlPlane } from '../../control-plane.js';
import { createLogger } from '../../logger.js';
import type { GlobalOptions, Io } from '../target.js';

/** `shipcheck up`: runs the control plane until SIGINT or SIGTERM, then stops app instances and exits 0. */
export async function upCommand(opts: GlobalOptions, io: Io): Promise<number> {
  const loaded = await loadConfig(opts.config);
  const logger = createLogger({ debug: opts.debug ?? false });
  const plane = await startControlPlane(loaded, logger);
  logger.info(
    { api: plane.apiUrl, proxy: plane.proxyUrl, service: loaded.config.service },
    `shipcheck up: API ${plane.apiUrl}, traffic ${plane.proxyUrl}`,
  );
  void io;
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'shutting down: stopping instances');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await plane.close({ stopInstances: true });
  logger.flush();
  return 0;
}
