import type { ReleaseView, StatusView } from '../engine/engine.js';
import type { EventRow } from '../store/types.js';
import type { ApiClient } from './client.js';
import { exitCodeFor, formatProgress } from './format.js';
import type { Io } from './main.js';

/** How often `--wait` polls the API. */
const POLL_MS = 500;
/** Without a terminal, a figures line is printed this often. */
const PLAIN_FIGURES_EVERY_MS = 5000;
const TERMINAL = new Set(['succeeded', 'rolled_back', 'aborted', 'failed']);

/**
 * Follows a release until it ends, printing its events and live figures (in place on a TTY, plain
 * lines otherwise); returns the exit code for how it ended.
 */
export async function waitForRelease(
  client: ApiClient,
  service: string,
  releaseId: number,
  io: Io,
  options: { json?: boolean } = {},
): Promise<number> {
  let afterId = 0;
  let lastFigures = 0;
  let inPlace = false;
  const clearLine = (): void => {
    if (inPlace) process.stdout.write('\r\x1b[2K');
    inPlace = false;
  };
  for (;;) {
    const { events } = await client.get<{ events: EventRow[] }>(`/api/v1/releases/${releaseId}/events`);
    for (const e of events.filter((x) => x.id > afterId)) {
      afterId = e.id;
      if (options.json) continue;
      clearLine();
      io.out(`${new Date(e.at).toISOString().slice(11, 19)} ${e.message}`);
    }
    const release = await client.get<ReleaseView>(`/api/v1/releases/${releaseId}`);
    if (TERMINAL.has(release.state)) {
      clearLine();
      if (options.json) io.out(JSON.stringify(release));
      else
        io.out(
          `release #${release.id} ${release.version}: ${release.state}${release.reason ? ` (${release.reason})` : ''}`,
        );
      return exitCodeFor(release.state);
    }
    if (!options.json) {
      const status = await client.get<StatusView>(`/api/v1/services/${service}`);
      const line = formatProgress(status);
      if (io.isTTY) {
        clearLine();
        process.stdout.write(line.slice(0, (process.stdout.columns || 200) - 1));
        inPlace = true;
      } else if (Date.now() - lastFigures >= PLAIN_FIGURES_EVERY_MS) {
        lastFigures = Date.now();
        io.out(line);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
