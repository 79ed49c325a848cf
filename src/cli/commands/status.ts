import { notificationWarnings } from './notify.js';
import { servicesShape, statusShape } from '../api-shapes.js';
import { formatServicesTable, formatStatus } from '../format.js';
import type { GlobalOptions, Io } from '../target.js';
import { resolveServer, resolveTarget, serverServices } from '../target.js';

/**
 * `shipcheck status [--json]`: one service's contract JSON is `{service, stable, release: {id, version,
 * phase, state, weight, reason}}`. Without -s on an installation of several services, every service
 * as a table (`{services: [...]}` with --json).
 */
export async function statusCommand(opts: GlobalOptions, io: Io): Promise<number> {
  if (opts.service === undefined && opts.env === undefined) {
    const { client, installation } = await resolveServer(opts);
    const count = installation ? installation.services.length : (await serverServices(client)).length;
    if (count > 1) {
      const { services } = await client.get('/api/v1/services', servicesShape);
      const rows = services.map((s) => ({ ...s, release: s.release ?? null }));
      if (opts.json) io.out(JSON.stringify({ services: rows }, null, 2));
      else formatServicesTable(rows).forEach((line) => io.out(line));
      if (!opts.json) (await notificationWarnings(client)).forEach((line) => io.err(line));
      return 0;
    }
  }
  const { client, service } = await resolveTarget(opts);
  const status = await client.get(`/api/v1/services/${service}`, statusShape);
  if (opts.json) io.out(JSON.stringify(status, null, 2));
  else formatStatus(status).forEach((line) => io.out(line));
  if (!opts.json) (await notificationWarnings(client)).forEach((line) => io.err(line));
  return 0;
}
