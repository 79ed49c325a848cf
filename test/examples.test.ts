import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from './e2e/harness.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const EXAMPLES = path.join(ROOT, 'examples');
/** What running an example leaves behind; nothing in it is part of the example. */
const RUNTIME_DIRS = new Set(['.shipcheck', '.hooks-state', 'prometheus-data', 'tmp', 'node_modules']);
/** A CLI invocation as the READMEs write it, run from the repository root. */
const CLI = /(?:^|[\s;&|(])(?:node bin\/shipcheck|bin\/shipcheck|npx shipcheck)\b([^;&|)\n]*)/g;
/** `-c FILE` or `--config FILE` in the arguments of one invocation. */
const CONFIG_FLAG = /(?:^|\s)(?:-c|--config)[\s=]+("[^"]*"|'[^']*'|\S+)/;
/** `for r in a b c; do`: a README starts one command per replica this way. */
const FOR_LOOP = /\bfor (\w+) in ([^;]+); do\b/;

/** Every file under `dir` whose name passes `keep`, as paths relative to the repository root. */
function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && !RUNTIME_DIRS.has(entry.name)) found.push(...filesUnder(full, keep));
    else if (entry.isFile() && keep(entry.name)) found.push(path.relative(ROOT, full));
  }
  return found.sort();
}

/** The lines of a Markdown file's shell code blocks. */
function shellLines(markdown: string): string[] {
  const blocks = markdown.matchAll(/^```(?:sh|shell|bash)\n([\s\S]*?)^```/gm);
  return [...blocks].flatMap((block) => (block[1] ?? '').split('\n'));
}

/** The config files a shell line hands to the CLI, with a `for` loop's variable expanded; undefined where one has no -c. */
function configsNamed(line: string): (string | undefined)[] {
  const loop = FOR_LOOP.exec(line);
  const values = loop?.[2]?.trim().split(/\s+/) ?? [];
  const expand = (file: string): string[] =>
    loop ? values.map((value) => file.replaceAll(`$${loop[1]}`, value)) : [file];
  return [...line.matchAll(CLI)].flatMap((call) => {
    const file = CONFIG_FLAG.exec(call[1] ?? '')?.[1]?.replace(/^["']|["']$/g, '');
    return file === undefined ? [undefined] : expand(file);
  });
}

const configs = filesUnder(EXAMPLES, (name) => name.endsWith('.yaml'));
const readmes = filesUnder(EXAMPLES, (name) => name === 'README.md');

describe('the examples', () => {
  it('has a config in every setup folder', () => {
    // Given the setups the top-level README lists, each has at least one shipcheck config
    for (const setup of ['nginx', 'prometheus', 'hooks', 'postgres-ha', 'multi-service']) {
      expect(
        configs.filter((file) => file.startsWith(`examples/${setup}/`)),
        setup,
      ).not.toEqual([]);
    }
  });

  it.concurrent.each(configs)('%s passes shipcheck validate', async (config) => {
    // When the config is validated as its README runs it, from the repository root
    const result = await runCli(['validate', '-c', config]);
    // Then it is accepted: the schema, the executables it names and its ports all check out
    expect(result.code, result.stderr).toBe(0);
  });

  it.each(readmes)('%s only runs the CLI with config files that exist', (readme) => {
    // Given every shell command in the README that runs the CLI
    const lines = shellLines(fs.readFileSync(path.join(ROOT, readme), 'utf8'));
    const named = lines.flatMap((line) => configsNamed(line).map((config) => ({ line, config })));
    // Then each names its config with -c, and the file is there
    for (const { line, config } of named) {
      expect(config, `no -c in: ${line}`).toBeDefined();
      expect(fs.existsSync(path.join(ROOT, config!)), `${config} does not exist: ${line}`).toBe(true);
    }
  });

  it('reads commands the way the READMEs write them', () => {
    // The guard above is only as good as this parsing, so check it on the forms the READMEs use
    expect(configsNamed('bin/shipcheck deploy v1 --wait -c examples/nginx/shipcheck.yaml')).toEqual([
      'examples/nginx/shipcheck.yaml',
    ]);
    expect(configsNamed('npx shipcheck status --config=examples/a.yaml; node bin/shipcheck up')).toEqual([
      'examples/a.yaml',
      undefined,
    ]);
    expect(
      configsNamed(
        'for r in a b; do SHIPCHECK_REPLICA_ID=replica-$r bin/shipcheck up -c examples/x/replica-$r.yaml >log & done',
      ),
    ).toEqual(['examples/x/replica-a.yaml', 'examples/x/replica-b.yaml']);
    expect(configsNamed('curl -s http://127.0.0.1:8081/')).toEqual([]);
  });
});
