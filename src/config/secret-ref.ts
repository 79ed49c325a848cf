/**
 * A config value that is a secret: `{secret: {env: NAME}}` or `{secret: {file: /run/secrets/NAME}}`
 * instead of the value itself. It is read when the config is read and remembered as a secret
 * (util/secrets.ts), so it is shown as `***` wherever shipcheck writes text.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { REDACTED } from '../util/redact.js';
import { registerSecret } from '../util/secrets.js';

/** Largest secret file read. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

/**
 * Client commands (`deploy`, `status`...) read the config only to find the server and the service;
 * they need no secret, and must not fail because a variable only the server has is missing.
 */
let resolving = true;

/** Makes this process read secret references as `***` instead of resolving them (CLI client commands). */
export function skipSecretResolution(): void {
  resolving = false;
}

const reference = z
  .strictObject({
    secret: z.union([
      z.strictObject({
        env: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
          .describe('The environment variable that holds the secret.'),
      }),
      z.strictObject({
        file: z
          .string()
          .refine((p) => path.isAbsolute(p), 'an absolute path, as Docker and Kubernetes mount secrets')
          .describe('An absolute path to a file that holds the secret (a trailing newline is dropped).'),
      }),
    ]),
  })
  .transform((ref, ctx) => {
    if (!resolving) return REDACTED;
    let value: string | undefined;
    let where: string;
    if ('env' in ref.secret) {
      where = `environment variable ${ref.secret.env}`;
      value = process.env[ref.secret.env];
    } else {
      where = `file ${ref.secret.file}`;
      try {
        const stat = fs.statSync(ref.secret.file);
        if (stat.size > MAX_SECRET_FILE_BYTES) throw new Error(`larger than ${MAX_SECRET_FILE_BYTES} bytes`);
        value = fs.readFileSync(ref.secret.file, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        ctx.addIssue({ code: 'custom', message: `secret ${where}: cannot read it (${e.code ?? e.message})` });
        return z.NEVER;
      }
    }
    if (value === undefined || value === '') {
      ctx.addIssue({ code: 'custom', message: `secret ${where} is not set` });
      return z.NEVER;
    }
    registerSecret(value);
    return value;
  })
  .describe('A secret: {secret: {env: NAME}} or {secret: {file: /absolute/path}}; shown as *** everywhere.');

/** `plain`, or a secret reference whose value must then pass `plain` (its message never quotes the value). */
export function orSecret<T extends z.ZodType<string, string>>(plain: T) {
  return z.union([
    plain,
    reference.transform((value, ctx) => {
      if (!resolving) return value;
      const checked = plain.safeParse(value);
      if (checked.success) return checked.data;
      const why = checked.error.issues[0]?.message ?? 'not valid here';
      ctx.addIssue({ code: 'custom', message: `the secret's value is not valid here: ${why}` });
      return z.NEVER;
    }),
  ]);
}
