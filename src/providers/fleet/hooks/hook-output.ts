import { ProviderError } from '../../../errors.js';
import { quote, type HookOutput } from './run-hook.js';

/** One instance as `fleet.hooks.list` reports it. */
export interface ListedInstance {
  address: string;
  version: string;
  /** The SHIPCHECK_INSTANCE it was started with, when the hook reports it. */
  instance: number | undefined;
}

/** `host:port` or `[v6]:port`: something shipcheck can send health checks and traffic to. */
const ADDRESS = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;
const MAX_PORT = 65_535;
/** Longest piece of hook output quoted in an error. */
const QUOTED_CHARS = 200;
const START_FORMAT = 'expected {"address": "host:port"} as the last line of stdout';
const LIST_FORMAT = 'expected a JSON array of {"address": "host:port", "version": "..."}';

/**
 * The address `fleet.hooks.start` printed: stdout is either one JSON value, or lines of which the last
 * non-empty one is the JSON (earlier lines are taken as the hook's log).
 */
export function parseStartOutput(label: string, output: HookOutput): string {
  const value = parseJson(label, output, START_FORMAT);
  const printed = `printed ${excerpt(JSON.stringify(value))}`;
  if (!isRecord(value)) throw invalid(label, output, `${printed}; ${START_FORMAT}`);
  const problem = addressProblem(value.address);
  if (problem !== undefined) throw invalid(label, output, `${printed}: "address" ${problem}`);
  return value.address as string;
}

/**
 * The instances `fleet.hooks.list` printed: a JSON array (alone on stdout, or its last non-empty line)
 * of objects with `address` and `version`, and optionally `instance`; other fields are ignored.
 */
export function parseListOutput(label: string, output: HookOutput): ListedInstance[] {
  const value = parseJson(label, output, LIST_FORMAT);
  if (!Array.isArray(value)) {
    throw invalid(label, output, `printed ${excerpt(JSON.stringify(value))}; ${LIST_FORMAT}`);
  }
  return value.map((item: unknown, position) => {
    const at = `item ${position}`;
    if (!isRecord(item)) throw invalid(label, output, `${at} is not an object; ${LIST_FORMAT}`);
    const problem = addressProblem(item.address);
    if (problem !== undefined) throw invalid(label, output, `${at}: "address" ${problem}`);
    if (typeof item.version !== 'string' || item.version === '') {
      throw invalid(label, output, `${at}: "version" must be a non-empty string, got ${shown(item.version)}`);
    }
    return { address: item.address as string, version: item.version, instance: instanceIndex(item.instance) };
  });
}

/** The whole of stdout as JSON, else its last non-empty line. */
function parseJson(label: string, output: HookOutput, format: string): unknown {
  const text = output.stdout.trim();
  if (text === '') throw invalid(label, output, `printed nothing on stdout; ${format}`);
  try {
    return JSON.parse(text);
  } catch {
    // Not one JSON value: lines of log before it.
  }
  const last = text.split('\n').at(-1)?.trim() ?? '';
  try {
    return JSON.parse(last);
  } catch {
    throw invalid(label, output, `printed a last line that is not JSON: ${excerpt(last)}; ${format}`);
  }
}

/** Why `value` is not a usable address, or undefined when it is one. */
function addressProblem(value: unknown): string | undefined {
  const expected = 'must be "host:port" such as "10.0.0.5:8080"';
  if (typeof value !== 'string') return `${expected}, got ${shown(value)}`;
  const match = ADDRESS.exec(value);
  if (!match) return `${expected}, got ${excerpt(JSON.stringify(value))}`;
  const port = Number(match[1]);
  if (port < 1 || port > MAX_PORT) return `has port ${port}, outside 1-${MAX_PORT}`;
  return undefined;
}

/** A whole number, also written as a string by shell scripts; anything else is not trusted. */
function instanceIndex(value: unknown): number | undefined {
  const index = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof index === 'number' && Number.isSafeInteger(index) && index >= 0 ? index : undefined;
}

function invalid(label: string, output: HookOutput, problem: string): ProviderError {
  return new ProviderError(`${label} ${problem}${quote(output.stderr)}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  return excerpt(JSON.stringify(value));
}

function excerpt(text: string): string {
  return text.length > QUOTED_CHARS ? `${text.slice(0, QUOTED_CHARS - 1)}…` : text;
}
