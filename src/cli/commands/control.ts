import { ShipcheckError } from '../../errors.js';
import { releaseShape, statusShape } from '../api-shapes.js';
import { formatPhase } from '../format.js';
import type { GlobalOptions, Io } from '../target.js';
import { resolveTarget } from '../target.js';
import { type WaitOptions, waitForRelease } from '../wait.js';

/** The commands that act on a service's active release, or start a rollback release. */
export type ControlAction = 'promote' | 'pause' | 'resume' | 'abort' | 'rollback';

/**
 * `shipcheck promote|pause|resume|abort|rollback`. A refusal of the API (409: nothing to act on, a
 * release held at a gate) is an error with its reason; so is a promote that left the release waiting.
 */
export async function controlCommand(
  action: ControlAction,
  opts: GlobalOptions,
  io: Io,
  extra: { full?: boolean; wait?: boolean } & Omit<WaitOptions, 'json'> = {},
): Promise<number> {
  const { client, service } = await resolveTarget(opts);
  const body = action === 'promote' ? { full: extra.full ?? false } : {};
  const before =
    action === 'promote' ? (await client.get(`/api/v1/services/${service}`, statusShape)).release : null;
  const release = await client.post(`/api/v1/services/${service}/${action}`, body, releaseShape);
  // A gate is passed by its checklist, not by promote. The API refuses it (409); a server that
  // answers 200 anyway has changed nothing, and that must not look like success either.
  const unmoved = before?.id === release.id && before.phase === release.phase;
  if (unmoved && before.state === 'waiting' && release.state === 'waiting') {
    throw new ShipcheckError(
      `release #${release.id} is ${release.reason ?? `waiting at the ${release.phase} gate`}; promote cannot pass a gate: sign its items ("shipcheck sign --gate") or waive them`,
    );
  }
  if (extra.wait)
    return waitForRelease(client, service, release.id, io, { ...extra, json: opts.json ?? false });
  io.out(
    opts.json
      ? JSON.stringify(release)
      : `release #${release.id} ${release.version}: ${release.state}, ${formatPhase(release)}${release.reason ? ` (${release.reason})` : ''}`,
  );
  return 0;
}
