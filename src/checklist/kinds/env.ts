import { z } from 'zod';
import type { CheckKind } from '../types.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Values may be secrets: the diff names a changed variable and shows this instead of its value. */
const CHANGED_MARK = '(changed)';

const envName = z.string().regex(ENV_NAME, 'expected an environment variable name such as DATABASE_URL');

const envParams = z
  .strictObject({
    required: z
      .array(envName)
      .describe('Variables the new version needs; each must be set and non-empty in its environment.'),
    forbidden: z
      .array(envName)
      .optional()
      .describe('Variables that must not be set for the new version, e.g. DEBUG.'),
  })
  .describe("The new version's environment has what it needs; the diff against the old one is kept.");

/** Params of an `env` item after validation. */
export type EnvParams = z.output<typeof envParams>;

/** Names only, never values: what a new environment adds, removes and changes against the old one. */
export interface EnvDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

/** Compares two environments by name; values are compared but never returned. */
export function diffEnv(before: Record<string, string>, after: Record<string, string>): EnvDiff {
  const added = Object.keys(after).filter((name) => !Object.hasOwn(before, name));
  const removed = Object.keys(before).filter((name) => !Object.hasOwn(after, name));
  const changed = Object.keys(after).filter(
    (name) => Object.hasOwn(before, name) && before[name] !== after[name],
  );
  return { added: added.sort(), removed: removed.sort(), changed: changed.sort() };
}

function formatDiff(diff: EnvDiff): string {
  return [
    ...diff.added.map((name) => `+ ${name}`),
    ...diff.removed.map((name) => `- ${name}`),
    ...diff.changed.map((name) => `~ ${name} ${CHANGED_MARK}`),
  ].join('\n');
}

/**
 * `env`: fails when a required variable is missing or empty, or a forbidden one is set, in the new
 * version's environment; data and output carry the by-name diff against the old version's.
 */
export const envCheck: CheckKind<EnvParams> = {
  kind: 'env',
  params: envParams,
  async run(params, context) {
    const env = context.envOf(context.version);
    const missing = params.required.filter((name) => !Object.hasOwn(env, name));
    const empty = params.required.filter((name) => env[name] === '');
    const forbidden = (params.forbidden ?? []).filter((name) => Object.hasOwn(env, name));

    const data: Record<string, unknown> = { version: context.version, missing, empty, forbidden };
    let output: string;
    let since = '';
    if (context.fromVersion === null) {
      output = `first release of ${context.service}: no previous environment to compare`;
    } else {
      const diff = diffEnv(context.envOf(context.fromVersion), env);
      Object.assign(data, { fromVersion: context.fromVersion, diff });
      const lines = formatDiff(diff);
      output =
        lines === '' ? `no changes since ${context.fromVersion}` : `since ${context.fromVersion}:\n${lines}`;
      since =
        `; ${diff.added.length} added, ${diff.removed.length} removed, ` +
        `${diff.changed.length} changed since ${context.fromVersion}`;
    }

    const problems = [
      missing.length > 0 ? `missing ${missing.join(', ')}` : undefined,
      empty.length > 0 ? `empty ${empty.join(', ')}` : undefined,
      forbidden.length > 0 ? `forbidden but set ${forbidden.join(', ')}` : undefined,
    ].filter((part) => part !== undefined);
    if (problems.length > 0) {
      return {
        ok: false,
        summary: `${context.version} environment: ${problems.join('; ')}${since}`,
        output,
        data,
      };
    }
    const count = params.required.length;
    const summary = `${count} required variable${count === 1 ? '' : 's'} set for ${context.version}${since}`;
    return { ok: true, summary, output, data };
  },
};
