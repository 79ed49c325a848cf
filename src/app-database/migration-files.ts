/** Finding and checking the migration files of the folder form: `NNN_name.up.sql` and `NNN_name.down.sql`. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import { MigrationError } from './migrator.js';

const MIGRATION_FILE = /^(\d+)_([A-Za-z0-9][\w-]*)\.(up|down)\.sql$/;
const SQL_EXTENSION = '.sql';

/** One migration of the folder form: `NNN_name.up.sql` and, when it can be undone, `NNN_name.down.sql`. */
export interface MigrationFile {
  /** `001_add_users`: the file name without direction and extension. */
  id: string;
  /** Absolute path of the up file. */
  upFile: string;
  /** Absolute path of the down file, or undefined when the migration cannot be undone. */
  downFile: string | undefined;
}

/**
 * The migrations in `dir`, sorted by number. Files not ending in `.sql` are ignored; a `.sql` file
 * that is not `NNN_name.up.sql` or `NNN_name.down.sql`, a down file without its up file, and two
 * migrations with the same number throw MigrationError listing every problem.
 */
export async function listMigrationFiles(dir: string): Promise<MigrationFile[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    throw new MigrationError(`migrations.dir ${dir} cannot be read: ${errorMessage(err)}`, { cause: err });
  }
  const found = new Map<string, { number: number; up?: string; down?: string }>();
  const problems: string[] = [];
  for (const name of names.sort()) {
    // READMEs and the like may sit next to the migrations.
    if (!name.endsWith(SQL_EXTENSION)) continue;
    const match = MIGRATION_FILE.exec(name);
    if (match === null) {
      problems.push(`${name}: expected NNN_name.up.sql or NNN_name.down.sql`);
      continue;
    }
    const [, digits = '', label = '', direction] = match;
    const id = `${digits}_${label}`;
    const entry = found.get(id) ?? { number: Number(digits) };
    entry[direction === 'up' ? 'up' : 'down'] = path.join(dir, name);
    found.set(id, entry);
  }
  const files: (MigrationFile & { number: number })[] = [];
  for (const [id, entry] of found) {
    if (entry.up === undefined) {
      problems.push(`${id}.down.sql has no ${id}.up.sql`);
      continue;
    }
    files.push({ id, number: entry.number, upFile: entry.up, downFile: entry.down });
  }
  files.sort((a, b) => a.number - b.number || a.id.localeCompare(b.id));
  for (let i = 1; i < files.length; i++) {
    const [before, after] = [files[i - 1]!, files[i]!];
    // Their order would be a guess, and a guess can differ between machines.
    if (before.number === after.number)
      problems.push(`${before.id} and ${after.id} share the number ${before.number}`);
  }
  if (problems.length > 0) {
    throw new MigrationError(`migrations.dir ${dir}: ${problems.join('; ')}`);
  }
  return files.map(({ id, upFile, downFile }) => ({ id, upFile, downFile }));
}
