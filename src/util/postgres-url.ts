/** `postgres://` or `postgresql://`: a PostgreSQL connection URL, as node-postgres and libpq read it. */
export const POSTGRES_URL = /^postgres(ql)?:\/\//;

/** Whether `text` is a PostgreSQL URL rather than, say, a SQLite path. */
export function isPostgresUrl(text: string): boolean {
  return POSTGRES_URL.test(text);
}

/** `url` pointing at database `name` instead of its own. */
export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(name)}`;
  return parsed.href;
}

/** The database a URL names in its path, or undefined when it names none. */
export function namedDatabase(url: string): string | undefined {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  return name === '' ? undefined : name;
}

/** The database a connection to `url` uses: the one in its path, else libpq's default (the user's name). */
export function databaseOf(url: string): string {
  return namedDatabase(url) ?? (decodeURIComponent(new URL(url).username) || 'postgres');
}

/**
 * A URI for libpq's tools (pg_dump, psql, pg_restore) with the password taken out, from the userinfo
 * or `?password=`, to travel in PGPASSWORD: a password in argv shows in every process list. The query
 * is percent-encoded, because node-postgres reads `+` there as a space and libpq as a plus.
 */
export function forLibpq(url: string): { uri: string; password: string | undefined } {
  const parsed = new URL(url);
  const password =
    parsed.password !== ''
      ? decodeURIComponent(parsed.password)
      : (parsed.searchParams.get('password') ?? undefined);
  parsed.password = '';
  parsed.searchParams.delete('password');
  parsed.search = [...parsed.searchParams]
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join('&');
  return { uri: parsed.href, password };
}

/** The environment for a libpq tool: this process's, with PGPASSWORD when there is a password. */
export function libpqEnv(password: string | undefined): NodeJS.ProcessEnv {
  return password === undefined ? { ...process.env } : { ...process.env, PGPASSWORD: password };
}
