import type { ReleaseView } from '../../engine/engine.js';
import { formatPhase } from '../format.js';
import type { GlobalOptions, Io } from '../main.js';
import { resolveTarget } from '../main.js';
import { waitForRelease } from '../wait.js';

/** `shipcheck deploy <version> [--wait]`: starts a release; with --wait, follows it to the end. */
export async function deployCommand(
  version: string,
  opts: GlobalOptions & { wait: boolean },
  io: Io,
): Promise<number> {
  const { client, service } = await resolveTarget(opts);
  const release = await client.post<ReleaseView>(`/api/v1/services/${service}/releases`, { version });
  if (!opts.wait) {
    io.out(
      opts.json
        ? JSON.stringify(release)
        : `release #${release.id} of ${service} ${version}: ${release.state}, ${formatPhase(release)}`,
    );
    return 0;
  }
  if (!opts.json) io.out(`release #${release.id}: ${release.fromVersion ?? '(none)'} -> ${version}`);
  return waitForRelease(client, service, release.id, io, { json: opts.json ?? false });
}
