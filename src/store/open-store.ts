import { InputError } from '../errors.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './types.js';

/** Opens the store a config names (`sqlite:PATH`, already resolved to an absolute path) and migrates it. */
export async function openStore(url: string): Promise<Store> {
  if (url.startsWith('sqlite:')) {
    const store = SqliteStore.open(url.slice('sqlite:'.length));
    await store.migrate();
    return store;
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    throw new InputError(
      `store ${url}: the PostgreSQL store is not available in this version; use sqlite:PATH`,
    );
  }
  throw new InputError(`store ${url}: expected sqlite:PATH or postgres://...`);
}
