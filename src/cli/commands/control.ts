import type { ReleaseView } from '../../engine/engine.js';
import { formatPhase } from '../format.js';
import type { GlobalOptions, Io } from '../main.js';
import { resolveTarget } from '../main.js';
import { waitForRelease } from '../wait.js';

/** The commands that act on a service's active release, or start a rollback release. */
export type ControlAction = 'promote' | 'pause' | 'resume' | 'abort' | 'rollback';

/** `shipcheck promote|pause|resume|abort|rollback`. */
export async function controlCommand(
  action: ControlAction,
  opts: GlobalOptions,
  io: Io,
  extra: { full?: boolean; wait?: boolean } = {},
): Promise<number> {
  const { client, service } = await resolveTarget(opts);
  const body = action === 'promote' ? { full: extra.full ?? false } : {};
  const release = await client.post<ReleaseView>(`/api/v1/services/${service}/${action}`, body);
  if (extra.wait) return waitForRelease(client, service, release.id, io, { json: opts.json ?? false });
  io.out(
    opts.json
      ? JSON.stringify(release)
      : `release #${release.id} ${release.version}: ${release.state}, ${formatPhase(release)}${release.reason ? ` (${release.reason})` : ''}`,
  );
  return 0;
}
