import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../../src/errors.js';
import { checkKinds } from '../../src/checklist/kinds/index.js';
import { loadTemplate, type KindParamsMap, type Template } from '../../src/checklist/template.js';

/** The check kinds registry, with a few kinds' schemas replaced by small ones the template tests read. */
export const TEST_KINDS: KindParamsMap = new Map<string, { params: z.ZodType }>([
  ...checkKinds(),
  ['manual', { params: z.strictObject({ role: z.string().optional(), hint: z.string().optional() }) }],
  [
    'http',
    {
      params: z.strictObject({
        url: z
          .string()
          .refine(
            (url) => url.startsWith('/') || /^https?:\/\//.test(url),
            'expected an absolute http(s) URL or a path starting with /',
          ),
        target: z.enum(['canary', 'stable']).optional(),
        expectStatus: z.union([z.number().int(), z.array(z.number().int())]).optional(),
        headers: z.record(z.string(), z.string()).optional(),
      }),
    },
  ],
  ['command', { params: z.strictObject({ run: z.string().min(1), timeout: z.string().optional() }) }],
  [
    'env',
    {
      params: z.strictObject({
        required: z.array(z.string().regex(/^[A-Za-z_]\w*$/, 'expected an environment variable name')),
      }),
    },
  ],
  ['backup-age', { params: z.strictObject({ maxAge: z.string() }) }],
]);

/** A fresh folder per test for template files, and template loading relative to it. */
export interface TemplateFolder {
  /** The current test's folder; it changes from test to test. */
  readonly dir: string;
  /** Writes `text` to `name` in the folder; returns the file's absolute path. */
  write(name: string, text: string): Promise<string>;
  /** Loads `ref` as a config in the folder would (`TEST_KINDS` unless told). */
  load(ref: string, kinds?: KindParamsMap): Promise<Template>;
  /** The problems loading `ref` reports; fails the test when it loads. */
  problemsOf(ref: string, kinds?: KindParamsMap): Promise<string[]>;
}

/** Registers the hooks that make and remove the folder of each test in the calling file. */
export function templateFolder(): TemplateFolder {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'shipcheck-template-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const load = (ref: string, kinds: KindParamsMap = TEST_KINDS): Promise<Template> =>
    loadTemplate(ref, { configDir: dir, kinds });
  return {
    get dir() {
      return dir;
    },
    async write(name, text) {
      const file = path.join(dir, name);
      await writeFile(file, text);
      return file;
    },
    load,
    async problemsOf(ref, kinds) {
      const error = await load(ref, kinds).then(
        () => undefined,
        (err: unknown) => err,
      );
      if (!(error instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(error)}`);
      return error.problems;
    },
  };
}
