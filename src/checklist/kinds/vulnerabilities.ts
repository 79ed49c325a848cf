/**
 * `vulnerabilities`: known vulnerabilities in the service's dependencies (`npm audit --json`), or
 * security upgrades the machine has not installed (`apt-get -s upgrade`, a simulation that changes
 * nothing), against a threshold. Any scanner whose output follows one of those shapes plugs in
 * through `command`. A registry or mirror that does not answer is inconclusive, never a pass.
 */
import { z } from 'zod';
import { duration } from '../../config/schema.js';
import type { CheckKind, CheckResult } from '../types.js';
import {
  asRecord,
  inconclusive,
  isRun,
  npmError,
  npmErrorResult,
  parseJson,
  runScanner,
  scannerCommand,
  unreachableCode,
  unreadable,
  type ScannerRun,
} from './scanner.js';

/** npm's severities, lowest first. */
export const SEVERITIES = ['info', 'low', 'moderate', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
/** Findings listed in the evidence, most severe first. */
const TOP_FINDINGS = 10;

const DEFAULT_COMMANDS = {
  npm: ['npm', 'audit', '--json'],
  apt: ['apt-get', '-s', 'upgrade'],
} as const;

const vulnerabilitiesParamsSchema = z.strictObject({
  source: z
    .enum(['npm', 'apt'])
    .describe("What to read: npm audit's JSON, or apt's pending upgrades from a security origin."),
  command: scannerCommand.optional(),
  cwd: z
    .string()
    .optional()
    .describe(
      'Folder the scanner runs in (the project with package-lock.json), relative to the config file.',
    ),
  failOn: z
    .enum(['low', 'moderate', 'high', 'critical'])
    .prefault('high')
    .describe('npm: fails on a vulnerability of this severity or higher.'),
  maxSecurityUpgrades: z
    .number()
    .int()
    .min(0)
    .prefault(0)
    .describe('apt: fails when more upgrades than this from a security origin are pending.'),
  timeout: duration
    .prefault('5m')
    .describe('Stops the scanner after this long; the item is then inconclusive.'),
});

/** Validated `vulnerabilities` params; durations in ms. */
export type VulnerabilitiesParams = z.output<typeof vulnerabilitiesParamsSchema>;

/** One thing a scanner found. */
export interface Finding {
  package: string;
  /** npm's severity, or `security` for a pending upgrade from a security origin (`other` otherwise). */
  severity: string;
  /** The advisory's title (npm), or `old -> new (origin)` (apt). */
  title: string;
}

/** What npm audit's JSON says: counts by severity and the vulnerable packages. */
export interface AuditReport {
  counts: Record<Severity, number>;
  findings: Finding[];
}

export const vulnerabilitiesCheck: CheckKind<VulnerabilitiesParams> = {
  kind: 'vulnerabilities',
  params: vulnerabilitiesParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const command = params.command ?? DEFAULT_COMMANDS[params.source];
    // apt's words are the same in every locale only under C.
    const env: Record<string, string> = params.source === 'apt' ? { LC_ALL: 'C', LANG: 'C' } : {};
    const run = await runScanner(command, { cwd: params.cwd, timeoutMs: params.timeout, env }, context);
    if (!isRun(run)) return run;
    return params.source === 'npm' ? judgeNpm(run, params) : judgeApt(run, params);
  },
};

function judgeNpm(run: ScannerRun, params: VulnerabilitiesParams): CheckResult {
  const json = asRecord(parseJson(run.stdout));
  if (json === undefined) return unreadable(run, "npm audit's JSON");
  const error = npmError(json);
  if (error !== undefined) return npmErrorResult(run, error);
  const report = parseNpmAudit(json);
  if (report === undefined) return unreadable(run, "npm audit's JSON (no vulnerabilities or advisories)");
  const threshold = SEVERITIES.indexOf(params.failOn);
  const atOrAbove = SEVERITIES.filter((_, i) => i >= threshold).reduce((n, s) => n + report.counts[s], 0);
  const below = SEVERITIES.filter((_, i) => i < threshold).reduce((n, s) => n + report.counts[s], 0);
  const data = {
    command: run.label,
    cwd: run.cwd,
    exitCode: run.exitCode,
    failOn: params.failOn,
    counts: report.counts,
    findings: report.findings.slice(0, TOP_FINDINGS),
  };
  const output = listFindings(report.findings);
  const belowText = below > 0 ? `; ${below} below ${params.failOn}` : '';
  if (atOrAbove > 0) {
    return {
      ok: false,
      summary: `${run.label}: ${plural(atOrAbove, 'vulnerability', 'vulnerabilities')} at ${params.failOn} or above (${countsText(report.counts, threshold)})${belowText}`,
      value: atOrAbove,
      data,
      output,
    };
  }
  return {
    ok: true,
    summary: `${run.label}: no vulnerability at ${params.failOn} or above${belowText}`,
    value: 0,
    data,
    ...(output === '' ? {} : { output }),
  };
}

/**
 * Counts and findings from npm audit's JSON: npm 7+ (`vulnerabilities` by package, counts in
 * `metadata.vulnerabilities`) or npm 6 (`advisories` by id); undefined for any other shape.
 */
export function parseNpmAudit(json: Record<string, unknown>): AuditReport | undefined {
  const vulnerabilities = asRecord(json.vulnerabilities);
  const advisories = asRecord(json.advisories);
  if (vulnerabilities === undefined && advisories === undefined) return undefined;
  const findings: Finding[] = [];
  if (vulnerabilities !== undefined) {
    for (const [name, value] of Object.entries(vulnerabilities)) {
      const entry = asRecord(value);
      if (entry === undefined) continue;
      const via = Array.isArray(entry.via) ? entry.via : [];
      const titles = via.flatMap((v) => {
        const advisory = asRecord(v);
        return typeof advisory?.title === 'string' ? [advisory.title] : [];
      });
      const through = via.filter((v): v is string => typeof v === 'string');
      const title =
        titles.length > 0
          ? [...new Set(titles)].join('; ')
          : through.length > 0
            ? `through ${through.join(', ')}`
            : '';
      findings.push({ package: stringOr(entry.name, name), severity: severityOf(entry.severity), title });
    }
  } else if (advisories !== undefined) {
    for (const value of Object.values(advisories)) {
      const advisory = asRecord(value);
      if (advisory === undefined) continue;
      findings.push({
        package: stringOr(advisory.module_name, '?'),
        severity: severityOf(advisory.severity),
        title: stringOr(advisory.title, ''),
      });
    }
  }
  findings.sort((a, b) => rank(b.severity) - rank(a.severity) || a.package.localeCompare(b.package));
  const counted = asRecord(asRecord(json.metadata)?.vulnerabilities);
  const counts = Object.fromEntries(
    SEVERITIES.map((s) => [
      s,
      typeof counted?.[s] === 'number' ? counted[s] : findings.filter((f) => f.severity === s).length,
    ]),
  ) as Record<Severity, number>;
  return { counts, findings };
}

function judgeApt(run: ScannerRun, params: VulnerabilitiesParams): CheckResult {
  const plan = parseAptSimulation(run.stdout);
  if (plan === undefined || run.exitCode !== 0) {
    const code = unreachableCode(`${run.stdout}\n${run.stderr}`);
    if (plan === undefined || code !== undefined) return unreadable(run, "apt-get's simulated upgrade");
    return inconclusive(
      `${run.label}: exit ${run.exitCode}`,
      { command: run.label, cwd: run.cwd, exitCode: run.exitCode },
      `${run.stderr}\n${run.stdout}`.trim().split('\n').slice(-10).join('\n'),
    );
  }
  const security = plan.filter((u) => u.security);
  const findings: Finding[] = plan.map((u) => ({
    package: u.package,
    severity: u.security ? 'security' : 'other',
    title: `${u.from ?? '(new)'} -> ${u.to} (${u.origin})`,
  }));
  findings.sort((a, b) => Number(b.severity === 'security') - Number(a.severity === 'security'));
  const data = {
    command: run.label,
    exitCode: run.exitCode,
    maxSecurityUpgrades: params.maxSecurityUpgrades,
    counts: { security: security.length, other: plan.length - security.length },
    findings: findings.slice(0, TOP_FINDINGS),
  };
  const output = listFindings(findings);
  const others = plan.length - security.length;
  const rest = others > 0 ? `; ${plural(others, 'other upgrade', 'other upgrades')} pending` : '';
  const pending = `${plural(security.length, 'upgrade', 'upgrades')} from a security origin pending`;
  const ok = security.length <= params.maxSecurityUpgrades;
  const limit = ok ? '' : `, more than maxSecurityUpgrades ${params.maxSecurityUpgrades}`;
  return {
    ok,
    summary: `${run.label}: ${pending}${limit}${rest}`,
    value: security.length,
    data,
    ...(output === '' ? {} : { output }),
  };
}

/** One `Inst` line of `apt-get -s upgrade`. */
export interface PendingUpgrade {
  package: string;
  /** The installed version; absent for a package the upgrade newly installs. */
  from?: string;
  to: string;
  /** Where the new version comes from, e.g. `Debian-Security:12/stable-security`. */
  origin: string;
  /** The origin (any of them, when several carry the version) is a security archive. */
  security: boolean;
}

/** `Inst libc6 [2.36-9+deb12u3] (2.36-9+deb12u4 Debian:12.5/stable, Debian-Security:12/stable-security [amd64])` */
const INST_LINE = /^Inst (\S+)(?: \[([^\]]*)\])? \((\S+) ([^[)]*?)(?: \[[^\]]*\])?\)/;

/**
 * The upgrades `apt-get -s upgrade` would install, or undefined when `text` is not its output (no
 * `Inst` line and no `N upgraded, ...` summary).
 */
export function parseAptSimulation(text: string): PendingUpgrade[] | undefined {
  const upgrades: PendingUpgrade[] = [];
  let recognised = false;
  for (const line of text.split('\n')) {
    if (/^\d+ upgraded, \d+ newly installed/.test(line)) recognised = true;
    const match = INST_LINE.exec(line);
    if (match === null) continue;
    recognised = true;
    const origin = match[4]!.trim();
    upgrades.push({
      package: match[1]!,
      ...(match[2] === undefined ? {} : { from: match[2] }),
      to: match[3]!,
      origin,
      security: origin.split(/,\s*/).some((o) => /-security\b/i.test(o)),
    });
  }
  return recognised ? upgrades : undefined;
}

function listFindings(findings: Finding[]): string {
  const lines = findings
    .slice(0, TOP_FINDINGS)
    .map((f) => `${f.severity.padEnd(9)} ${f.package}${f.title === '' ? '' : `: ${f.title}`}`);
  if (findings.length > TOP_FINDINGS) lines.push(`… and ${findings.length - TOP_FINDINGS} more`);
  return lines.join('\n');
}

/** `1 critical, 2 high`: the non-zero counts from `threshold` up, most severe first. */
function countsText(counts: Record<Severity, number>, threshold: number): string {
  return SEVERITIES.filter((s, i) => i >= threshold && counts[s] > 0)
    .reverse()
    .map((s) => `${counts[s]} ${s}`)
    .join(', ');
}

function severityOf(value: unknown): string {
  return typeof value === 'string' ? value.toLowerCase() : 'unknown';
}

function rank(severity: string): number {
  return (SEVERITIES as readonly string[]).indexOf(severity);
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' && value !== '' ? value : fallback;
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}
