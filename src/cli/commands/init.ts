import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { STARTER_CONFIG } from '../../config/starter.js';
import { InputError } from '../../errors.js';

/**
 * `shipcheck init`: writes the commented starter config to `opts.config` and returns 0.
 * Throws `InputError` when the file exists, unless `force` is set.
 */
export async function initCommand(
  opts: { config: string; force?: boolean },
  io: { out: (line: string) => void },
): Promise<number> {
  const file = path.resolve(opts.config);
  await mkdir(path.dirname(file), { recursive: true });
  try {
    // 'wx' fails on an existing file in the same call that creates it, so two inits cannot both win.
    await writeFile(file, STARTER_CONFIG, { flag: opts.force ? 'w' : 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new InputError(`${opts.config} already exists; pass --force to overwrite`, { cause: err });
    }
    throw err;
  }
  io.out(`wrote ${opts.config}; point fleet.command at your app, then run "shipcheck validate"`);
  return 0;
}
