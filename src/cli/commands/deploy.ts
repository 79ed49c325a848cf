import { checkVersion } from '../../domain/version.js';
import { InputError } from '../../errors.js';
import { releaseShape } from '../api-shapes.js';
import { formatPhase } from '../format.js';
import type { GlobalOptions, Io } from '../target.js';
import { resolveTarget } from '../target.js';
import { type WaitOptions, waitForRelease } from '../wait.js';

/**
 * `shipcheck deploy <version> [--idempotency-key K] [--wait [--timeout D] [--until-held]]`: starts a
 * release; with --wait, follows it to the end. A version that breaks VERSION_RULE is refused here,
 * before any request. With a key, running the same command again (a CI job retried after its answer
 * was lost) gets the release the first run started instead of a second one.
 */
export async function deployCommand(
  version: string,
  opts: GlobalOptions & Omit<WaitOptions, 'json'> & { wait: boolean; idempotencyKey?: string | undefined },
  io: Io,
): Promise<number> {
  const problem = checkVersion(version);
  if (problem !== undefined) {
    throw new InputError(version === '' ? `${problem}: shipcheck deploy VERSION` : problem);
  }
  const { client, service } = await resolveTarget(opts);
  const key = opts.idempotencyKey;
  const release = await client.post(
    `/api/v1/services/${service}/releases`,
    { version },
    releaseShape,
    key === undefined ? {} : { headers: { 'idempotency-key': key } },
  );
  if (!opts.wait) {
    io.out(
      opts.json
        ? JSON.stringify(release)
        : `release #${release.id} of ${service} ${release.version}: ${release.state}, ${formatPhase(release)}`,
    );
    return 0;
  }
  if (!opts.json) io.out(`release #${release.id}: ${release.fromVersion ?? '(none)'} -> ${release.version}`);
  return waitForRelease(client, service, release.id, io, { ...opts, json: opts.json ?? false });
}
