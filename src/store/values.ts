/** What both dialects hand back differently: numbers as strings, unique-key errors in their own words. */

/** Numbers may come back as strings (PostgreSQL bigint); the rows always hold numbers. */
export const num = (value: number | string | null): number | null => (value === null ? null : Number(value));

/** Recognises a unique-constraint violation in SQLite's and PostgreSQL's wording. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    e.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    e.code === '23505' ||
    /UNIQUE constraint/.test(e.message ?? '')
  );
}
