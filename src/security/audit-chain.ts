// The pure core of the verifiable audit log: how an entry is encoded and hashed, how each entry is
// chained to the one before it, how a chain is checked, and how entries are written to and read from
// JSON lines (for `shipcheck audit export` and for archives). No storage and no clock here: the store
// and the API build on these functions.
//
// The file is long because it is one job, the chain's format: the canonical encoding, the hash and
// the verifier must agree byte for byte, and reading them side by side is how that is kept true.
//
// What the chain proves, and what it cannot: every entry carries the SHA-256 of the entry before it,
// so changing, removing, inserting or reordering entries breaks a link that `verifyChain` reports.
// Someone who can rewrite the whole log can also recompute every hash after a change; only an anchor
// kept elsewhere (a head `{ seq, hash }` recorded earlier, or the last entry of an archive) catches
// that. Likewise, removing the newest entries leaves a chain that is valid on its own: only a recorded
// head shows that it once went further.
import { createHash } from 'node:crypto';
import { InputError, errorMessage } from '../errors.js';

/** How an audited action ended. */
export type AuditResult = 'ok' | 'denied' | 'failed';

/** The results an entry may record, for validation. */
export const AUDIT_RESULTS: readonly AuditResult[] = ['ok', 'denied', 'failed'];

/** One entry of the audit log, linked to the one before it by `prev`. */
export interface AuditEntry {
  /** 1, 2, 3... with no gaps. */
  seq: number;
  /** When it happened, in ms since the epoch. */
  at: number;
  /** Who did it: `user:alice`, a token's name, `engine`, `alertmanager`, `anonymous`. */
  actor: string;
  /** What was done: `release.deploy`, `login.failed`, `user.add`. */
  action: string;
  /** What it was done to: `web@production#12`, `user:bob`; null when nothing in particular. */
  target: string | null;
  /** The service concerned, when there is one. */
  service: string | null;
  /** The client's IP address, when the action came over the network. */
  address: string | null;
  result: AuditResult;
  /** Why it was denied or failed; null when it succeeded. */
  reason: string | null;
  /** JSON-safe details of the action. */
  data: Record<string, unknown>;
  /** Hex SHA-256 of the previous entry; {@link GENESIS_HASH} for seq 1. */
  prev: string;
  /** Hex SHA-256 of this entry, see {@link hashEntry}. */
  hash: string;
}

/** A point in a chain: an entry's seq and hash. A recorded head, or an archive's last entry. */
export interface ChainLink {
  seq: number;
  hash: string;
}

/** The fields a caller supplies for a new entry; {@link chainEntry} adds seq, prev and hash. */
export type AuditFields = Omit<AuditEntry, 'seq' | 'prev' | 'hash'>;

/** The kinds of tampering {@link verifyChain} tells apart. */
export type ChainProblem = 'edited' | 'reordered' | 'inserted' | 'deleted' | 'truncated';

/** The outcome of {@link verifyChain}. */
export type VerifyResult =
  | {
      ok: true;
      /** Entries checked. */
      count: number;
      /** The last entry checked; undefined when there were none. */
      head: ChainLink | undefined;
    }
  | {
      ok: false;
      /** Entries that checked out before the first bad one. */
      count: number;
      /** Seq of the first bad entry; what it names for each problem is documented on {@link verifyChain}. */
      firstBad: number;
      problem: ChainProblem;
      /** One line naming the first bad entry, e.g. `entry 17 was edited: its hash does not match its content`. */
      message: string;
    };

/** Options of {@link verifyChain}. */
export interface VerifyOptions {
  /** A head recorded earlier: the chain must reach it, and the entry with its seq must have its hash. */
  head?: ChainLink;
  /** Where the entries continue from, such as an archive's last entry; the chain starts at seq 1 without it. */
  startAfter?: ChainLink;
}

/** The `prev` of entry 1: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields {@link hashEntry} covers, in a fixed list so that extra properties (a store's row id) never count. */
const HASHED_FIELDS = [
  'seq',
  'at',
  'actor',
  'action',
  'target',
  'service',
  'address',
  'result',
  'reason',
  'data',
  'prev',
] as const satisfies readonly (keyof AuditEntry)[];

/** A SHA-256 in lowercase hex. */
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/**
 * The canonical JSON text of `value`, the same for equal values however they were built, so a hash
 * over it is stable. JCS-like (RFC 8785): no whitespace; object members sorted by key in UTF-16 code
 * unit order; members whose value is undefined dropped; arrays kept in order; strings as
 * `JSON.stringify` writes them. Numbers are written as `JSON.stringify` writes them, which is the
 * shortest round-trip form JCS asks for, so -0 becomes `0` and 1e21 stays `1e+21`; integers beyond
 * 2^53 have already lost precision in a JavaScript number and are written as they now are. NaN,
 * Infinity, bigint, functions, symbols, undefined outside an object member, circular references and
 * objects other than plain objects and arrays (Date, Map, class instances) are refused with an
 * {@link InputError} naming where they are, rather than silently changed as `JSON.stringify` would.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, '$', new Set());
}

function encode(value: unknown, path: string, open: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value))
        throw new InputError(`canonicalJson: ${path} is ${value}, which JSON cannot hold`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new InputError(`canonicalJson: ${path} is a ${typeof value}, which JSON cannot hold`);
  }
  if (open.has(value)) throw new InputError(`canonicalJson: ${path} refers back to itself`);
  open.add(value);
  try {
    if (Array.isArray(value)) {
      return `[${value.map((item, i) => encode(item, `${path}[${i}]`, open)).join(',')}]`;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw new InputError(
        `canonicalJson: ${path} is a ${kind}, not a plain object; convert it to JSON values first`,
      );
    }
    const record = value as Record<string, unknown>;
    const members: string[] = [];
    // Array.prototype.sort compares strings by UTF-16 code units, which is the order JCS uses.
    for (const key of Object.keys(record).sort()) {
      const member = record[key];
      if (member === undefined) continue;
      members.push(`${JSON.stringify(key)}:${encode(member, `${path}.${key}`, open)}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    open.delete(value);
  }
}

/**
 * Hex SHA-256 of the canonical JSON of every field of `entry` but `hash`. `seq` and `prev` are
 * covered, so moving an entry or relinking it changes its hash too. Properties outside
 * {@link AuditEntry} are ignored. Throws an {@link InputError} when `data` holds a non-JSON value.
 */
export function hashEntry(entry: Omit<AuditEntry, 'hash'>): string {
  const hashed: Record<string, unknown> = {};
  for (const field of HASHED_FIELDS) hashed[field] = entry[field];
  return createHash('sha256').update(canonicalJson(hashed), 'utf8').digest('hex');
}

/**
 * The entry that follows `previous` (the first of a chain when undefined): seq one more, prev its
 * hash, and its own hash computed. Throws an {@link InputError} when `fields.data` is not JSON.
 */
export function chainEntry(previous: ChainLink | undefined, fields: AuditFields): AuditEntry {
  const partial: Omit<AuditEntry, 'hash'> = {
    seq: (previous?.seq ?? 0) + 1,
    at: fields.at,
    actor: fields.actor,
    action: fields.action,
    target: fields.target,
    service: fields.service,
    address: fields.address,
    result: fields.result,
    reason: fields.reason,
    data: fields.data,
    prev: previous?.hash ?? GENESIS_HASH,
  };
  return { ...partial, hash: hashEntry(partial) };
}

/** An iterator that can look one entry ahead, so verification streams without holding the chain. */
class Lookahead<T> {
  private readonly iterator: Iterator<T>;
  private buffered: IteratorResult<T> | undefined;

  constructor(items: Iterable<T>) {
    this.iterator = items[Symbol.iterator]();
  }

  peek(): T | undefined {
    this.buffered ??= this.iterator.next();
    return this.buffered.done ? undefined : this.buffered.value;
  }

  next(): T | undefined {
    const item = this.peek();
    this.buffered = undefined;
    return item;
  }
}

function ownHashMatches(entry: AuditEntry): boolean {
  try {
    return hashEntry(entry) === entry.hash;
  } catch {
    // Content that cannot even be encoded was not written by chainEntry.
    return false;
  }
}

function span(from: number, to: number): string {
  return from === to ? `entry ${from}` : `entries ${from}–${to}`;
}

function checkLink(link: ChainLink | undefined, name: string): void {
  if (link === undefined) return;
  if (!Number.isSafeInteger(link.seq) || link.seq < 0 || !HEX_SHA256.test(link.hash)) {
    throw new InputError(`${name} must be { seq: a whole number ≥ 0, hash: 64 lowercase hex digits }`);
  }
}

/**
 * Checks that `entries` (in log order) form an unbroken chain, reading them once and holding only
 * the entry before and the entry after the one being checked, so a long log can be streamed.
 *
 * Each entry must have a hash that matches its content, the seq after the previous entry's, and a
 * `prev` equal to the previous entry's hash. The first entry follows `startAfter` when given, or is
 * seq 1 with prev {@link GENESIS_HASH}. At the first entry that does not, the verdict names it:
 *
 * - `inserted`: an entry the chain steps over: the entry after it carries the expected seq and links
 *   to the entry before it (whatever the intruder's own hash or seq, unless it is an entry moved
 *   there from further on, which is `reordered`). Or a seq seen before (two
 *   entries claim one place; when both link to the same predecessor, the one the next entry links to
 *   is kept as genuine). Or an entry with a broken hash whose prev is the previous entry's prev: a
 *   forged entry took the previous entry's place and the real one was kept after it.
 *   `firstBad` is the seq the intruder holds or stands at.
 * - `edited`: an entry whose hash does not match its content (`firstBad` is the seq it stands at).
 *   Also an entry whose hash was recomputed after a change: the next entry, intact, links to the
 *   hash it had before (`firstBad` is the changed entry). Also a chain that does not reach a recorded
 *   head's hash at the head's seq: it was rewritten up to there with all hashes recomputed, which
 *   only the anchor can show, and `firstBad` is the head's seq, the first entry proven changed.
 *   And a first entry with an intact hash that does not link to `startAfter` (or, for seq 1, to 64
 *   zeros); `firstBad` is that entry.
 * - `reordered`: a seq is skipped and a skipped seq turns up later, or an entry turns up early and
 *   the hole it left is found further on (an entry linking to it, or the log ending just before
 *   it); `firstBad` is the seq that should have come where the order broke.
 * - `deleted`: a seq is skipped and never turns up (the rest of the input is read to be sure);
 *   `firstBad` is the first entry after the gap.
 * - `truncated`: the chain ends before a recorded `head`; `firstBad` is the first missing seq.
 *
 * Without a `head`, a full rewrite with recomputed hashes and the removal of the newest entries
 * cannot be seen; keep a head outside the log to catch them. A head older than `startAfter` belongs
 * to the archive and is checked only when it is `startAfter` itself. Throws an {@link InputError} for a
 * malformed `head` or `startAfter`.
 */
export function verifyChain(entries: Iterable<AuditEntry>, options: VerifyOptions = {}): VerifyResult {
  const { head, startAfter } = options;
  checkLink(head, 'head');
  checkLink(startAfter, 'startAfter');
  const anchor: ChainLink = startAfter ?? { seq: 0, hash: GENESIS_HASH };
  if (head !== undefined && head.seq === anchor.seq && head.hash !== anchor.hash) {
    return fail(0, head.seq, 'edited', `entry ${head.seq} does not match the recorded head`);
  }
  const input = new Lookahead(entries);
  let last: ChainLink = anchor;
  // The prev of `last`; undefined while `last` is the anchor, whose prev is not known here.
  let lastPrev: string | undefined;
  let count = 0;
  let position = 0;

  for (let entry = input.next(); entry !== undefined; entry = input.next()) {
    position++;
    const expected = last.seq + 1;
    const hashOk = ownHashMatches(entry);
    if (hashOk && entry.seq === expected && entry.prev === last.hash) {
      if (head !== undefined && entry.seq === head.seq && entry.hash !== head.hash) {
        return fail(
          count,
          head.seq,
          'edited',
          `entry ${head.seq} does not match the recorded head: it or an entry before it was changed and the hashes recomputed`,
        );
      }
      lastPrev = entry.prev;
      last = { seq: entry.seq, hash: entry.hash };
      count++;
      continue;
    }

    const after = input.peek();
    const claimed = entry.seq === expected ? '' : ` (claiming seq ${String(entry.seq)})`;
    const swappedWithNext =
      after !== undefined && entry.prev === after.hash && entry.seq === after.seq + 1 && hashOk;
    if (after !== undefined && after.seq === expected && after.prev === last.hash && !swappedWithNext) {
      if (hashOk && Number.isSafeInteger(entry.seq) && entry.seq > expected && movedHere(entry, input)) {
        return fail(
          count,
          expected,
          'reordered',
          `entry ${expected} is out of order: entry ${entry.seq} was moved before it`,
        );
      }
      return fail(
        count,
        expected,
        'inserted',
        `an entry was inserted at ${expected}: the entry at position ${position}${claimed} is not in the chain, and entry ${expected} after it follows entry ${last.seq}`,
      );
    }

    if (!hashOk) {
      if (lastPrev !== undefined && entry.prev === lastPrev) {
        return fail(
          count - 1,
          last.seq,
          'inserted',
          `entry ${last.seq} was inserted: the entry at position ${position - 1} took its place, and the entry after it also follows entry ${last.seq - 1}`,
        );
      }
      return fail(
        count,
        expected,
        'edited',
        `entry ${expected}${claimed} was edited: its hash does not match its content`,
      );
    }

    if (Number.isSafeInteger(entry.seq) && entry.seq <= last.seq) {
      if (entry.seq === last.seq && lastPrev !== undefined && entry.prev === lastPrev) {
        // Two entries claim one place after the same predecessor; the next entry says which is real.
        const forgedFirst = after !== undefined && after.prev === entry.hash;
        const forgedAt = forgedFirst ? position - 1 : position;
        return fail(
          forgedFirst ? count - 1 : count,
          entry.seq,
          'inserted',
          `entry ${entry.seq} was inserted: seq ${entry.seq} appears at positions ${position - 1} and ${position}, and the one at position ${forgedAt} is not in the chain`,
        );
      }
      return fail(
        count,
        entry.seq,
        'inserted',
        `entry ${entry.seq} was inserted: seq ${entry.seq} comes again at position ${position}, after entry ${last.seq}`,
      );
    }

    if (Number.isSafeInteger(entry.seq) && entry.seq > expected) {
      const gapEnd = entry.seq - 1;
      for (let later = input.next(); later !== undefined; later = input.next()) {
        if (later.seq >= expected && later.seq <= gapEnd) {
          return fail(
            count,
            expected,
            'reordered',
            later.seq === expected
              ? `entry ${expected} is out of order: it comes after entry ${entry.seq}`
              : `entry ${expected} is out of order: entry ${entry.seq} comes in its place, and entry ${later.seq} after that`,
          );
        }
      }
      return fail(
        count,
        entry.seq,
        'deleted',
        last.seq === anchor.seq && startAfter === undefined
          ? `${span(expected, gapEnd)} ${expected === gapEnd ? 'was' : 'were'} deleted: the log starts at entry ${entry.seq}`
          : `${span(expected, gapEnd)} ${expected === gapEnd ? 'was' : 'were'} deleted: entry ${entry.seq} follows entry ${last.seq}`,
      );
    }

    if (entry.seq !== expected) {
      // A seq that is not a whole number, with a hash that matches it: not something chainEntry writes.
      return fail(
        count,
        expected,
        'inserted',
        `an entry was inserted at ${expected}: its seq is ${String(entry.seq)}`,
      );
    }

    // Right seq and an intact hash, but it links to something other than the previous entry.
    if (last === anchor) {
      return fail(
        count,
        expected,
        'edited',
        startAfter === undefined
          ? `entry ${expected} was edited: its prev is not 64 zeros, and its hash was recomputed`
          : `entry ${expected} does not follow entry ${anchor.seq}, where the chain continues from: one of them was edited and its hash recomputed`,
      );
    }
    if (after === undefined && head !== undefined && head.seq === last.seq && head.hash === last.hash) {
      return fail(
        count,
        expected,
        'inserted',
        `entry ${expected} was inserted: it does not follow entry ${last.seq}, the recorded head`,
      );
    }
    return fail(
      count - 1,
      last.seq,
      'edited',
      `entry ${last.seq} was edited: its hash was recomputed, and entry ${expected} records the hash it had before`,
    );
  }

  if (head !== undefined && last.seq < head.seq) {
    return fail(
      count,
      last.seq + 1,
      'truncated',
      count === 0 && last === anchor
        ? `the log was truncated: it has no entries after ${anchor.seq}, but entry ${head.seq} was recorded as the head`
        : `the log was truncated: it ends at entry ${last.seq}, but entry ${head.seq} was recorded as the head (${span(last.seq + 1, head.seq)} missing)`,
    );
  }
  return { ok: true, count, head: count === 0 ? undefined : last };
}

/**
 * Whether `entry`, found early, was moved from further on rather than added: reads the rest of the
 * input for the hole it left, an entry that links to it or a chain that ends just before its seq. A
 * second entry with its seq means it is a copy.
 */
function movedHere(entry: AuditEntry, rest: Lookahead<AuditEntry>): boolean {
  let lastRead: AuditEntry | undefined;
  for (let later = rest.next(); later !== undefined; later = rest.next()) {
    if (later.seq === entry.seq) return false;
    if (later.seq === entry.seq + 1 && later.prev === entry.hash) return true;
    lastRead = later;
  }
  return lastRead !== undefined && lastRead.seq === entry.seq - 1 && lastRead.hash === entry.prev;
}

function fail(count: number, firstBad: number, problem: ChainProblem, message: string): VerifyResult {
  return { ok: false, count, firstBad, problem, message };
}

/** One entry as a line of canonical JSON, without the newline: for writing an export as it streams. */
export function toJsonLine(entry: AuditEntry): string {
  const fields: Record<string, unknown> = {};
  for (const field of HASHED_FIELDS) fields[field] = entry[field];
  fields.hash = entry.hash;
  return canonicalJson(fields);
}

/** Entries as JSON lines, each ending in a newline: the format of `shipcheck audit export` and of archives. */
export function toJsonLines(entries: Iterable<AuditEntry>): string {
  let text = '';
  for (const entry of entries) text += `${toJsonLine(entry)}\n`;
  return text;
}

const ENTRY_FIELDS: ReadonlySet<string> = new Set([...HASHED_FIELDS, 'hash']);
const NULLABLE_TEXT_FIELDS = ['target', 'service', 'address', 'reason'] as const;

/**
 * The entry on one JSON line; `lineNumber` (from 1) starts every error, as `line N: ...`. Checks the
 * shape only (types, hex hashes, no unknown fields, since the hash would not cover them); whether
 * the entry belongs to the chain is for {@link verifyChain}.
 */
export function parseJsonLine(line: string, lineNumber: number): AuditEntry {
  const problem = (message: string): InputError => new InputError(`line ${lineNumber}: ${message}`);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new InputError(`line ${lineNumber}: not JSON: ${errorMessage(err)}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw problem('an audit entry must be a JSON object');
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!ENTRY_FIELDS.has(key)) throw problem(`unknown field "${key}"`);
  }
  for (const key of ENTRY_FIELDS) {
    if (!(key in record)) throw problem(`missing field "${key}"`);
  }
  const { seq, at, actor, action, result, data, prev, hash } = record;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
    throw problem('seq must be a whole number ≥ 1');
  }
  if (typeof at !== 'number' || !Number.isSafeInteger(at)) throw problem('at must be a whole number of ms');
  if (typeof actor !== 'string') throw problem('actor must be a string');
  if (typeof action !== 'string') throw problem('action must be a string');
  for (const field of NULLABLE_TEXT_FIELDS) {
    const fieldValue = record[field];
    if (fieldValue !== null && typeof fieldValue !== 'string')
      throw problem(`${field} must be a string or null`);
  }
  if (!AUDIT_RESULTS.includes(result as AuditResult)) {
    throw problem(`result must be one of ${AUDIT_RESULTS.join(', ')}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw problem('data must be an object');
  if (typeof prev !== 'string' || !HEX_SHA256.test(prev))
    throw problem('prev must be 64 lowercase hex digits');
  if (typeof hash !== 'string' || !HEX_SHA256.test(hash))
    throw problem('hash must be 64 lowercase hex digits');
  return {
    seq,
    at,
    actor,
    action,
    target: record.target as string | null,
    service: record.service as string | null,
    address: record.address as string | null,
    result: result as AuditResult,
    reason: record.reason as string | null,
    data: data as Record<string, unknown>,
    prev,
    hash,
  };
}

/** The entries of JSON lines text, as {@link toJsonLines} writes it; blank lines are skipped. */
export function parseJsonLines(text: string): AuditEntry[] {
  const entries: AuditEntry[] = [];
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    entries.push(parseJsonLine(line, index + 1));
  }
  return entries;
}
