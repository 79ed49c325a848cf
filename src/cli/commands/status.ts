import { statusShape } from '../api-shapes.js';
import { formatStatus } from '../format.js';
import type { GlobalOptions, Io } from '../target.js';
import { resolveTarget } from '../target.js';

/** `shipcheck status [--json]`: the contract JSON is `{service, stable, release: {id, version, phase, state, weight, reason}}`. */
export async function statusCommand(opts: GlobalOptions, io: Io): Promise<number> {
  const { client, service } = await resolveTarget(opts);
  const status = await client.get(`/api/v1/services/${service}`, statusShape);
  if (opts.json) io.out(JSON.stringify(status, null, 2));
  else formatStatus(status).forEach((line) => io.out(line));
  return 0;
}
