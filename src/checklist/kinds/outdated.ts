/**
 * `outdated`: the service's npm dependencies are not too far behind their `latest` release, by major
 * versions (`npm outdated --json`) and, when asked, by the age of that release (`npm view PKG time`).
 * A registry that does not answer is inconclusive, never a pass.
 */
import { z } from 'zod';
import { duration } from '../../config/schema.js';
import type { CheckContext, CheckKind, CheckResult } from '../types.js';
import {
  asRecord,
  isRun,
  npmError,
  npmErrorResult,
  parseJson,
  runScanner,
  scannerCommand,
  unreadable,
  type ScannerRun,
} from './scanner.js';

const DAY_MS = 86_400_000;
/** Packages whose release dates are looked up at most, oldest-looking first; the rest stay unknown. */
export const MAX_LOOKUPS = 20;
/** Lookups at once. */
const LOOKUP_CONCURRENCY = 4;
/** Dependencies listed in the evidence. */
const LISTED = 20;

const outdatedParamsSchema = z.strictObject({
  cwd: z
    .string()
    .optional()
    .describe('Folder of the project (its package.json), relative to the config file.'),
  command: scannerCommand.optional(),
  maxMajorBehind: z
    .number()
    .int()
    .min(0)
    .prefault(0)
    .describe('Fails when a dependency is more major versions behind its latest release than this.'),
  maxDaysBehind: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      'Fails when a dependency lags a latest release that was published more than this many days ago.',
    ),
  ignore: z.array(z.string().min(1)).prefault([]).describe('Package names never judged.'),
  timeout: duration.prefault('5m').describe('Stops npm after this long; the item is then inconclusive.'),
});

/** Validated `outdated` params; durations in ms. */
export type OutdatedParams = z.output<typeof outdatedParamsSchema>;

/** One dependency behind its latest release. */
export interface OutdatedDependency {
  package: string;
  /** Installed version, or the version the lock file pins (`wanted`) when nothing is installed. */
  current: string;
  latest: string;
  majorsBehind: number;
  /** Days since `latest` was published; absent until looked up. */
  daysBehind?: number;
  /** Why it fails, when it does. */
  problems: string[];
}

export const outdatedCheck: CheckKind<OutdatedParams> = {
  kind: 'outdated',
  params: outdatedParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const command = params.command ?? ['npm', 'outdated', '--json'];
    const run = await runScanner(command, { cwd: params.cwd, timeoutMs: params.timeout }, context);
    if (!isRun(run)) return run;
    const json = parseJson(run.stdout);
    const record = asRecord(json);
    if (record === undefined) return unreadable(run, "npm outdated's JSON");
    const error = npmError(record);
    if (error !== undefined) return npmErrorResult(run, error);
    // npm outdated exits 1 when something is outdated, 0 when nothing is; anything else is a failure to run.
    if (run.exitCode !== 0 && run.exitCode !== 1) return unreadable(run, "npm outdated's JSON");
    const ignored = new Set(params.ignore);
    const listed = parseNpmOutdated(record);
    const behind = listed.filter((d) => !ignored.has(d.package));
    const ignoredCount = listed.length - behind.length;
    for (const dep of behind) {
      if (dep.majorsBehind > params.maxMajorBehind) {
        dep.problems.push(
          `${dep.majorsBehind} major ${dep.majorsBehind === 1 ? 'version' : 'versions'} behind`,
        );
      }
    }
    let unknown: { package: string; reason: string }[] = [];
    if (params.maxDaysBehind !== undefined) {
      unknown = await lookUpAges(behind, params.maxDaysBehind, run, params.timeout, context);
    }
    return verdict(run, params, behind, unknown, ignoredCount);
  },
};

function verdict(
  run: ScannerRun,
  params: OutdatedParams,
  behind: OutdatedDependency[],
  unknown: { package: string; reason: string }[],
  ignoredCount: number,
): CheckResult {
  const failing = behind.filter((d) => d.problems.length > 0);
  const data = {
    command: run.label,
    cwd: run.cwd,
    exitCode: run.exitCode,
    maxMajorBehind: params.maxMajorBehind,
    ...(params.maxDaysBehind === undefined ? {} : { maxDaysBehind: params.maxDaysBehind }),
    outdated: behind.length,
    ignored: ignoredCount,
    failing: failing.length,
    dependencies: [...failing, ...behind.filter((d) => d.problems.length === 0)].slice(0, LISTED),
    ...(unknown.length > 0 ? { unknown } : {}),
  };
  const output = [
    ...behind.map(
      (d) =>
        `${d.package} ${d.current} -> ${d.latest}${d.daysBehind === undefined ? '' : ` (published ${d.daysBehind} days ago)`}${d.problems.length > 0 ? `: ${d.problems.join(', ')}` : ''}`,
    ),
    ...unknown.map((u) => `${u.package}: release date unknown: ${u.reason}`),
  ].join('\n');
  const evidence = { data, ...(output === '' ? {} : { output }), value: failing.length };
  if (failing.length > 0) {
    const named = failing
      .slice(0, 3)
      .map((d) => `${d.package} ${d.current} -> ${d.latest} (${d.problems.join(', ')})`)
      .join('; ');
    const more = failing.length > 3 ? `; and ${failing.length - 3} more` : '';
    return {
      ok: false,
      summary: `${run.label}: ${failing.length} of ${behind.length} outdated ${failing.length === 1 ? 'dependency is' : 'dependencies are'} too far behind: ${named}${more}`,
      ...evidence,
    };
  }
  if (unknown.length > 0) {
    return {
      ok: false,
      inconclusive: true,
      summary: `${run.label}: the release date of ${unknown.length} outdated ${unknown.length === 1 ? 'dependency' : 'dependencies'} is unknown (${unknown[0]!.package}: ${unknown[0]!.reason})`,
      ...evidence,
    };
  }
  const within =
    behind.length === 0
      ? 'no dependency behind its latest release'
      : `${behind.length} outdated, all within maxMajorBehind ${params.maxMajorBehind}${params.maxDaysBehind === undefined ? '' : ` and maxDaysBehind ${params.maxDaysBehind}`}`;
  const ignoredText = ignoredCount > 0 ? ` (${ignoredCount} outdated ignored)` : '';
  return { ok: true, summary: `${run.label}: ${within}${ignoredText}`, ...evidence };
}

/**
 * The dependencies `npm outdated --json` lists whose version differs from `latest`. A package with
 * several dependents (workspaces) is listed as an array; each entry counts.
 */
export function parseNpmOutdated(json: Record<string, unknown>): OutdatedDependency[] {
  const result: OutdatedDependency[] = [];
  for (const [name, value] of Object.entries(json)) {
    const entries = Array.isArray(value) ? (value as unknown[]) : [value];
    for (const item of entries) {
      const entry = asRecord(item);
      if (entry === undefined) continue;
      const current = typeof entry.current === 'string' ? entry.current : entry.wanted;
      const latest = entry.latest;
      if (typeof current !== 'string' || typeof latest !== 'string' || current === latest) continue;
      const majors = majorOf(latest) - majorOf(current);
      result.push({
        package: name,
        current,
        latest,
        majorsBehind: Number.isFinite(majors) ? Math.max(0, majors) : 0,
        problems: [],
      });
    }
  }
  return result;
}

/** The major version of `1.2.3` (NaN when it is not a version: a git or file dependency). */
function majorOf(version: string): number {
  const match = /^v?(\d+)\./.exec(version);
  return match === null ? Number.NaN : Number(match[1]);
}

/**
 * Looks up when each dependency's `latest` was published (`npm view PKG time --json`, in the project's
 * folder so its registry settings apply), at most MAX_LOOKUPS of them, and adds a problem to those
 * published more than `maxDays` ago. Returns the dependencies whose date stayed unknown.
 */
async function lookUpAges(
  behind: OutdatedDependency[],
  maxDays: number,
  run: ScannerRun,
  timeoutMs: number,
  context: CheckContext,
): Promise<{ package: string; reason: string }[]> {
  const unknown: { package: string; reason: string }[] = [];
  // One lookup per package, even when it is listed for several dependents.
  const names = [...new Set(behind.filter((d) => d.problems.length === 0).map((d) => d.package))];
  for (const name of names.slice(MAX_LOOKUPS)) {
    unknown.push({ package: name, reason: `not looked up: at most ${MAX_LOOKUPS} lookups per run` });
  }
  const queue = names.slice(0, MAX_LOOKUPS);
  const times = new Map<string, Record<string, unknown>>();
  const worker = async (): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const view = await runScanner(
        ['npm', 'view', name, 'time', '--json'],
        { cwd: run.cwd, timeoutMs },
        context,
      );
      if (!isRun(view)) {
        unknown.push({ package: name, reason: view.summary });
        continue;
      }
      const json = asRecord(parseJson(view.stdout));
      const error = json === undefined ? 'output is not JSON' : npmError(json);
      if (json === undefined || error !== undefined) unknown.push({ package: name, reason: error! });
      else times.set(name, json);
    }
  };
  await Promise.all(Array.from({ length: LOOKUP_CONCURRENCY }, worker));
  for (const dep of behind) {
    const time = times.get(dep.package);
    if (time === undefined) continue;
    const published = typeof time[dep.latest] === 'string' ? Date.parse(time[dep.latest] as string) : NaN;
    if (Number.isNaN(published)) {
      unknown.push({ package: dep.package, reason: `the registry gives no date for ${dep.latest}` });
      continue;
    }
    dep.daysBehind = Math.floor((context.clock.now() - published) / DAY_MS);
    if (dep.daysBehind > maxDays) {
      dep.problems.push(`${dep.latest} published ${dep.daysBehind} days ago, over maxDaysBehind ${maxDays}`);
    }
  }
  return unknown;
}
