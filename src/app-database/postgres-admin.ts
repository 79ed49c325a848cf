/**
 * Creating and dropping whole PostgreSQL databases, which the migration rehearsal (its copy) and the
 * restore check (its scratch database) both do. Each statement runs on a connection to another
 * database of the same server: neither can run on its own target.
 */
import pg from 'pg';

/** SQLSTATE: a syntax error; DROP DATABASE ... WITH (FORCE) is PostgreSQL 13 and later. */
const SYNTAX_ERROR = '42601';

/** The SQLSTATE of a PostgreSQL error (`42601`), or undefined for anything else. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Creates the empty database `name` from template0, so nothing a restore brings can clash with it,
 * with the encoding and locale of database `like` (the database `client` is connected to when
 * undefined), so text sorts and restores as it did there.
 */
export async function createEmptyDatabase(
  client: pg.Client,
  name: string,
  like: string | undefined,
): Promise<void> {
  const settings = await client.query<{ encoding: string; collate: string; ctype: string }>(
    `SELECT pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype
       FROM pg_database WHERE datname = coalesce($1::name, current_database())`,
    [like ?? null],
  );
  const row = settings.rows[0];
  const options =
    row === undefined
      ? ''
      : ` ENCODING ${pg.escapeLiteral(row.encoding)} LC_COLLATE ${pg.escapeLiteral(row.collate)} LC_CTYPE ${pg.escapeLiteral(row.ctype)}`;
  await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE template0${options}`);
}

/**
 * Drops database `name` if it exists. FORCE ends the sessions left on it (a killed pg_restore's, a
 * stopped migration's); servers before 13 do not know it and get a plain DROP.
 */
export async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } catch (err) {
    if (sqlState(err) !== SYNTAX_ERROR) throw err;
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)}`);
  }
}
