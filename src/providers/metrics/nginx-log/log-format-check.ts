import path from 'node:path';
import { readNginxConfig, type NginxDirective } from '../../traffic/nginx/nginx-config.js';
import {
  FIELDS,
  REQUIRED_FIELDS,
  describeLineProblem,
  logFormatAdvice,
  type AccessLogField,
} from './access-log-line.js';

/** A place in an nginx config file. */
export interface NginxPlace {
  file: string;
  line: number;
  col: number;
}

/** One thing the check found: an error makes metrics impossible, a warning may. */
export interface LogFormatFinding {
  severity: 'error' | 'warning';
  /** A place in the nginx config, or the shipcheck key the finding is about. */
  at: NginxPlace | 'accessLog' | 'nginxConfig';
  message: string;
}

/** What to check: the nginx.conf nginx runs with, and the log the metric source reads. */
export interface LogFormatCheckOptions {
  /** Absolute path of the nginx.conf (traffic.nginxConfig). */
  nginxConfig: string;
  /** Absolute path of the access log (metrics.accessLog). */
  accessLog: string;
  /** Files that may be missing without a word, such as the upstream file shipcheck writes itself. */
  mayBeMissing?: readonly string[];
}

/** nginx's predefined format, used by an access_log that names none; it is not JSON. */
const COMBINED = 'combined';
const ESCAPE_PREFIX = 'escape=';
const VARIABLE = /\$(?:\{(\w+)\}|(\w+))/g;
/** What each required field is for, so a finding says why it matters. */
const PURPOSE: Record<string, string> = {
  [FIELDS.status]: 'to count errors',
  [FIELDS.requestTime]: 'to measure latency',
  [FIELDS.upstreamAddr]: 'to tell which version answered',
};

/**
 * Checks that nginx writes `accessLog` (an `access_log` directive in an http context of `nginxConfig` or a
 * file it includes) with a JSON `log_format` that carries the fields the nginx-log metric source needs.
 */
export async function checkAccessLogFormat(options: LogFormatCheckOptions): Promise<LogFormatFinding[]> {
  const { nginxConfig, accessLog } = options;
  let config;
  try {
    config = await readNginxConfig(nginxConfig);
  } catch (err) {
    return [
      {
        severity: 'warning',
        at: 'nginxConfig',
        message: `traffic.nginxConfig: cannot read ${nginxConfig} (${(err as Error).message}); the format of metrics.accessLog was not checked`,
      },
    ];
  }
  const findings: LogFormatFinding[] = [];
  const mayBeMissing = new Set((options.mayBeMissing ?? []).map((file) => path.resolve(file)));
  const gaps = config.gaps.filter((gap) => !mayBeMissing.has(gap.file));
  for (const gap of gaps) {
    findings.push({
      severity: 'warning',
      at: gap.at ?? 'nginxConfig',
      message: `cannot read ${gap.file} (${gap.reason}); what it holds was not checked for metrics.accessLog`,
    });
  }

  const httpDirectives = config.directives.filter((d) => !d.context.includes('stream'));
  const accessLogs = httpDirectives.filter((d) => d.name === 'access_log');
  const writers = accessLogs.filter((d) => writesTo(d.args[0] ?? '', accessLog, path.dirname(nginxConfig)));
  if (writers.length === 0) {
    // A path built from variables, or a file not read, may be the one: then this is only a doubt.
    const unsure = gaps.length > 0 || accessLogs.some((d) => (d.args[0] ?? '').includes('$'));
    findings.push({
      severity: unsure ? 'warning' : 'error',
      at: 'accessLog',
      message: `metrics.accessLog: no access_log directive in ${nginxConfig} or the files it includes writes ${accessLog}; ${logFormatAdvice(accessLog)}`,
    });
    return findings;
  }

  const formats = httpDirectives.filter((d) => d.name === 'log_format');
  for (const writer of writers) {
    findings.push(...checkWriter(writer, formats, accessLog, gaps.length > 0));
  }
  return unique(findings);
}

function writesTo(target: string, accessLog: string, confDir: string): boolean {
  if (target === 'off' || target.startsWith('syslog:') || target.includes('$')) return false;
  if (path.isAbsolute(target)) return path.resolve(target) === accessLog;
  // nginx resolves a relative path against its prefix (-p, or the one it was built with), unknown here.
  return path.resolve(confDir, target) === accessLog || accessLog.endsWith(path.sep + path.normalize(target));
}

function checkWriter(
  writer: NginxDirective,
  formats: NginxDirective[],
  accessLog: string,
  unsure: boolean,
): LogFormatFinding[] {
  const at = placeOf(writer);
  const [target, second] = writer.args;
  const named = second !== undefined && !second.includes('=');
  const name = named ? second : COMBINED;
  const params = writer.args.slice(named ? 2 : 1);
  const findings: LogFormatFinding[] = [];
  if (params.some((param) => param === 'gzip' || param.startsWith('gzip='))) {
    findings.push({
      severity: 'error',
      at,
      message: `access_log ${target}: gzip compresses the log, which shipcheck cannot read as it grows; remove gzip`,
    });
  }
  if (params.some((param) => param.startsWith('buffer=')) && !params.some((p) => p.startsWith('flush='))) {
    findings.push({
      severity: 'warning',
      at,
      message: `access_log ${target}: buffer= holds lines back until the buffer fills, so analysis sees requests late or not at all; remove it, or add flush=1s`,
    });
  }
  const format = formats.find((d) => d.args[0] === name);
  if (name === COMBINED && format === undefined) {
    findings.push({
      severity: 'error',
      at,
      message: `access_log ${target} uses nginx's "combined" format, which is not JSON; ${logFormatAdvice(accessLog)}`,
    });
    return findings;
  }
  if (format === undefined) {
    findings.push({
      severity: unsure ? 'warning' : 'error',
      at,
      message: `access_log ${target} uses log_format ${name}, which is not defined; ${logFormatAdvice(accessLog)}`,
    });
    return findings;
  }
  findings.push(...checkFormat(format, accessLog));
  return findings;
}

/** Checks one `log_format NAME [escape=...] STRING...;` for JSON with the fields shipcheck reads. */
function checkFormat(format: NginxDirective, accessLog: string): LogFormatFinding[] {
  const at = placeOf(format);
  const [name = '', ...rest] = format.args;
  const escape = rest[0]?.startsWith(ESCAPE_PREFIX) ? rest.shift()?.slice(ESCAPE_PREFIX.length) : 'default';
  const template = rest.join('');
  const label = `log_format ${name}`;
  const findings: LogFormatFinding[] = [];
  if (escape === 'none') {
    findings.push({
      severity: 'warning',
      at,
      message: `${label}: escape=none lets a quote in a request or header break the JSON line; use escape=json`,
    });
  }
  let fields: Record<string, unknown>;
  try {
    // Any variable may stand where a value goes: a number is valid JSON inside quotes and out.
    const parsed: unknown = JSON.parse(template.replace(VARIABLE, '1'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    fields = parsed as Record<string, unknown>;
  } catch (err) {
    findings.push({
      severity: 'error',
      at,
      message: `${label} does not write a JSON object (${(err as Error).message}); ${logFormatAdvice(accessLog)}`,
    });
    return findings;
  }
  for (const group of REQUIRED_FIELDS) {
    const present = group.filter((field) => field in fields);
    if (present.length === 0) {
      const field = group[group.length - 1] ?? FIELDS.upstreamAddr;
      const purpose = PURPOSE[field] ?? '';
      findings.push({
        severity: 'error',
        at,
        message: `${label} has ${describeLineProblem({ field, problem: 'missing' })}, which shipcheck needs ${purpose}; ${logFormatAdvice(accessLog)}`,
      });
    }
    for (const field of present) {
      const variable = variableOf(template, field);
      if (variable !== undefined && variable !== field) {
        findings.push({
          severity: 'warning',
          at,
          message: `${label}: "${field}" holds $${variable}; shipcheck reads it as $${field}`,
        });
      }
    }
  }
  return findings;
}

/** The variable a key's value starts with, as in `"status":"$status"`; undefined for a literal. */
function variableOf(template: string, field: AccessLogField): string | undefined {
  const match = new RegExp(`"${field}"\\s*:\\s*"?\\s*\\$(?:\\{(\\w+)\\}|(\\w+))`).exec(template);
  return match?.[1] ?? match?.[2];
}

function placeOf(directive: NginxDirective): NginxPlace {
  return { file: directive.file, line: directive.line, col: directive.col };
}

function unique(findings: LogFormatFinding[]): LogFormatFinding[] {
  const seen = new Set<string>();
  return findings.filter((finding) => {
    const key = JSON.stringify(finding);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
