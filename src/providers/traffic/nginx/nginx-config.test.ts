import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readNginxConfig } from './nginx-config.js';

describe('readNginxConfig', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'shipcheck-nginx-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function write(name: string, text: string): string {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    return file;
  }

  it('reads directives with their arguments, place and enclosing blocks', async () => {
    const conf = write(
      'nginx.conf',
      [
        'events {} # a comment { ; }',
        'http {',
        '  log_format main escape=json \'{"status":"$status"}\'',
        '                             \'{"ua":"$http_user_agent"}\';',
        '  server {',
        '    location / { return 200 "a \\"quoted\\" word;"; }',
        '    set $x ${host}a;',
        '  }',
        '}',
        'stream { server { access_log /x; } }',
        '',
      ].join('\n'),
    );
    const { directives, gaps } = await readNginxConfig(conf);
    expect(gaps).toEqual([]);
    expect(directives.map((d) => [d.name, d.args, d.line, d.col, d.context.join('/')])).toEqual([
      [
        'log_format',
        ['main', 'escape=json', '{"status":"$status"}', '{"ua":"$http_user_agent"}'],
        3,
        3,
        'http',
      ],
      ['return', ['200', 'a "quoted" word;'], 6, 18, 'http/server/location'],
      ['set', ['$x', '${host}a'], 7, 5, 'http/server'],
      ['access_log', ['/x'], 10, 19, 'stream/server'],
    ]);
    expect(directives[0]?.file).toBe(conf);
  });

  it('follows includes relative to the main file, with globs, in the block that includes them', async () => {
    const conf = write('nginx.conf', 'http {\n  include conf.d/*.conf;\n  include sites/site;\n}\n');
    const a = write('conf.d/a.conf', 'access_log /a.log;\n');
    write('conf.d/b.conf', 'server { include snippets/log.conf; }\n');
    const log = write('snippets/log.conf', 'access_log /b.log main;\n');
    write('conf.d/.hidden.conf', 'access_log /hidden.log;\n');
    write('conf.d/readme.txt', 'not nginx {');
    write('sites/site', 'log_format main "x";\n');
    const { directives, gaps } = await readNginxConfig(conf);
    expect(gaps).toEqual([]);
    expect(directives.map((d) => [d.name, d.args[0], d.file, d.line, d.context.join('/')])).toEqual([
      ['access_log', '/a.log', a, 1, 'http'],
      ['access_log', '/b.log', log, 1, 'http/server'],
      ['log_format', 'main', path.join(dir, 'sites/site'), 1, 'http'],
    ]);
  });

  it('reports what it cannot read or parse as gaps, and still reads the rest', async () => {
    const conf = write(
      'nginx.conf',
      [
        'http {',
        '  include missing.conf;',
        '  include nothing/*.conf;',
        '  include loop.conf;',
        '  include broken.conf;',
        '  access_log /ok.log;',
        '}',
        '',
      ].join('\n'),
    );
    write('loop.conf', 'include loop.conf;\n');
    write('broken.conf', 'server { listen 80 }\n');
    const { directives, gaps } = await readNginxConfig(conf);
    expect(gaps).toEqual([
      { file: path.join(dir, 'missing.conf'), reason: 'no such file', at: { file: conf, line: 2, col: 3 } },
      {
        file: path.join(dir, 'loop.conf'),
        reason: 'includes itself',
        at: { file: path.join(dir, 'loop.conf'), line: 1, col: 1 },
      },
      {
        file: path.join(dir, 'broken.conf'),
        reason: '"listen" has no ending ";"',
        at: { file: path.join(dir, 'broken.conf'), line: 1, col: 20 },
      },
    ]);
    // A glob that matches nothing is fine for nginx, and so here.
    expect(directives.map((d) => d.args[0])).toEqual(['/ok.log']);
  });

  it('stops at an unclosed quote or block, and throws for a main file it cannot read', async () => {
    const quote = write('quote.conf', 'http {\n  access_log "/x.log;\n}\n');
    expect((await readNginxConfig(quote)).gaps[0]).toMatchObject({ reason: 'a quote that is never closed' });
    const open = write('open.conf', 'http {\n  access_log /x.log;\n');
    const read = await readNginxConfig(open);
    expect(read.gaps[0]).toMatchObject({ reason: 'unexpected end of file' });
    expect(read.directives.map((d) => d.name)).toEqual(['access_log']);
    await expect(readNginxConfig(path.join(dir, 'none.conf'))).rejects.toThrow(/^no such file$/);
    await expect(readNginxConfig(dir)).rejects.toThrow(/is a folder/);
    expect(await readNginxConfig(write('empty.conf', ''))).toEqual({ directives: [], gaps: [] });
  });
});
