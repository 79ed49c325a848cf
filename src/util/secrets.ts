/**
 * Secrets written in config as `{secret: {env: NAME}}` or `{secret: {file: /run/secrets/x}}`: read
 * when the config is read, and remembered for the life of the process, so that every place text
 * leaves shipcheck (the store, the API, the event stream, the logs) shows `***` where one stood.
 */
import { REDACTED } from './redact.js';

/** Shorter values are not treated as secrets to hide: they would blank out ordinary words. */
const MIN_SECRET_CHARS = 6;

const known = new Set<string>();
/** The known secrets, longest first (a secret that contains another is replaced whole), as one pattern. */
let pattern: RegExp | undefined;

/** Remembers `value` as a secret: from now on it is shown as `***`. */
export function registerSecret(value: string): void {
  if (value.length < MIN_SECRET_CHARS || known.has(value)) return;
  known.add(value);
  const escaped = [...known]
    .sort((a, b) => b.length - a.length)
    .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  pattern = new RegExp(escaped.join('|'), 'g');
}

/** `text` with every known secret replaced by `***`. */
export function redactSecrets(text: string): string {
  if (pattern === undefined || text.length < MIN_SECRET_CHARS) return text;
  pattern.lastIndex = 0;
  return pattern.test(text) ? text.replace(pattern, REDACTED) : text;
}

/** Whether any secret is known; when none is, redacting is skipped. */
export function hasSecrets(): boolean {
  return pattern !== undefined;
}

/** `value` (a JSON-like tree) with every string redacted; the same object when nothing changed. */
export function redactDeep<T>(value: T): T {
  if (pattern === undefined) return value;
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((item: unknown) => {
      const next = redactDeep(item);
      if (next !== item) changed = true;
      return next;
    });
    return (changed ? out : value) as T;
  }
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      const next = redactDeep(item);
      if (next !== item) changed = true;
      out[key] = next;
    }
    return (changed ? out : value) as T;
  }
  return value;
}
