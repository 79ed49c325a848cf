import { InputError, ProviderError } from '../errors.js';
import { PostgresStore, leaseBoundLimits } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './types.js';
import { redactUrl } from '../util/redact.js';

/**
 * Opens the store a config names (`sqlite:PATH` resolved to an absolute path, or `postgres://...`) and
 * migrates it. With `leaseTtlMs` (`server.leaseTtl`), a PostgreSQL store's writes, retries included,
 * end well within a lease (docs/decisions/009).
 */
export async function openStore(url: string, options: { leaseTtlMs?: number } = {}): Promise<Store> {
  if (url.startsWith('sqlite:')) {
    const store = SqliteStore.open(url.slice('sqlite:'.length));
    await store.migrate();
    return store;
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const store = PostgresStore.open(
      url,
      options.leaseTtlMs === undefined ? {} : leaseBoundLimits(options.leaseTtlMs),
    );
    try {
      await store.migrate();
    } catch (err) {
      await store.close().catch(() => undefined);
      const e = err as { code?: string; message?: string };
      const why = e.code ?? e.message ?? 'unknown error';
      throw new ProviderError(`store ${redactUrl(url)}: cannot use PostgreSQL (${why})`, { cause: err });
    }
    return store;
  }
  throw new InputError(`store ${url}: expected sqlite:PATH or postgres://...`);
}
