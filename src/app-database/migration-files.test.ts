import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listMigrationFiles } from './migration-files.js';
import { MigrationError } from './migrator.js';

describe('listMigrationFiles', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-migration-files-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const touch = (...names: string[]) => names.forEach((name) => fs.writeFileSync(path.join(dir, name), ''));

  it('sorts by number, pairs down files with up files and ignores other files', async () => {
    touch('10_c.up.sql', '2_b.up.sql', '2_b.down.sql', '001_a.up.sql', 'README.md');
    expect(await listMigrationFiles(dir)).toEqual([
      { id: '001_a', upFile: path.join(dir, '001_a.up.sql'), downFile: undefined },
      { id: '2_b', upFile: path.join(dir, '2_b.up.sql'), downFile: path.join(dir, '2_b.down.sql') },
      { id: '10_c', upFile: path.join(dir, '10_c.up.sql'), downFile: undefined },
    ]);
  });

  it('names every malformed file, down file without an up file and shared number', async () => {
    touch('001_a.up.sql', '001_b.up.sql', 'add_users.up.sql', '002_x.sql', '003_gone.down.sql');
    await expect(listMigrationFiles(dir)).rejects.toThrow(
      new MigrationError(
        `migrations.dir ${dir}: 002_x.sql: expected NNN_name.up.sql or NNN_name.down.sql; add_users.up.sql: expected NNN_name.up.sql or NNN_name.down.sql; 003_gone.down.sql has no 003_gone.up.sql; 001_a and 001_b share the number 1`,
      ),
    );
  });

  it('says when the folder cannot be read', async () => {
    await expect(listMigrationFiles(path.join(dir, 'missing'))).rejects.toThrow(
      /^migrations\.dir .*missing cannot be read: ENOENT/,
    );
  });
});
