import { describeReload } from '../../control-plane.js';
import { reloadShape } from '../api-shapes.js';
import type { GlobalOptions, Io } from '../target.js';
import { resolveServer } from '../target.js';

/**
 * `shipcheck reload`: the running control plane reads its files again and adds, changes and removes
 * services (as SIGHUP does). A config problem is printed as `file:line:col` and nothing changes.
 */
export async function reloadCommand(opts: GlobalOptions, io: Io): Promise<number> {
  const { client } = await resolveServer(opts);
  const report = await client.post('/api/v1/reload', {}, reloadShape);
  if (opts.json) io.out(JSON.stringify(report, null, 2));
  else io.out(describeReload(report));
  return 0;
}
