import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.js';
import { ManualClock } from '../util/clock.js';
import {
  type AuditEntry,
  type AuditFields,
  GENESIS_HASH,
  canonicalJson,
  chainEntry,
  hashEntry,
  parseJsonLines,
  toJsonLine,
  toJsonLines,
  verifyChain,
} from './audit-chain.js';

const ACTORS = ['user:alice', 'token:deploy-bot', 'engine', 'alertmanager', 'anonymous'];

/** The fields of the i-th entry of a test log: a mix of actors, actions, results and details. */
function fieldsFor(i: number, clock: ManualClock): AuditFields {
  clock.advance(1_000);
  const denied = i % 7 === 0;
  return {
    at: clock.now(),
    actor: ACTORS[i % ACTORS.length] ?? 'anonymous',
    action: denied ? 'login.failed' : 'release.deploy',
    target: denied ? null : `web@production#${i}`,
    service: denied ? null : 'web',
    address: i % 3 === 0 ? '192.0.2.7' : null,
    result: denied ? 'denied' : 'ok',
    reason: denied ? 'bad password' : null,
    data: { version: `v${i}`, weights: [5, 25, 100], nested: { note: 'ünïcödé 😀', ratio: i / 8 } },
  };
}

/** A valid chain of `count` entries, seq 1..count. */
function buildChain(count = 50): AuditEntry[] {
  const clock = new ManualClock();
  const entries: AuditEntry[] = [];
  for (let i = 1; i <= count; i++) entries.push(chainEntry(entries.at(-1), fieldsFor(i, clock)));
  return entries;
}

/** Entry `seq` of a chain built by {@link buildChain} (seq 1 is index 0). */
function at(entries: AuditEntry[], seq: number): AuditEntry {
  const entry = entries[seq - 1];
  if (entry === undefined) throw new Error(`no entry ${seq}`);
  return entry;
}

/** A copy of `entries` with entry `seq` replaced by `change` of a copy of it. */
function withEntry(
  entries: AuditEntry[],
  seq: number,
  change: (entry: AuditEntry) => AuditEntry,
): AuditEntry[] {
  const copy = entries.map((entry) => ({ ...entry, data: structuredClone(entry.data) }));
  copy[seq - 1] = change(at(copy, seq));
  return copy;
}

/** `entry` with its own hash recomputed, as someone covering an edit would. */
function rehashed(entry: AuditEntry): AuditEntry {
  return { ...entry, hash: hashEntry(entry) };
}

/** A single-pass iterable that refuses a second pass, like rows streamed from a database cursor. */
function once(entries: AuditEntry[]): Iterable<AuditEntry> {
  let used = false;
  return {
    [Symbol.iterator]() {
      if (used) throw new Error('iterated twice');
      used = true;
      return entries[Symbol.iterator]();
    },
  };
}

describe('chainEntry and hashEntry', () => {
  it('starts a chain at seq 1 after 64 zeros and links each entry to the one before', () => {
    const entries = buildChain(3);
    expect(GENESIS_HASH).toBe('0'.repeat(64));
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(at(entries, 1).prev).toBe(GENESIS_HASH);
    expect(at(entries, 2).prev).toBe(at(entries, 1).hash);
    expect(at(entries, 3).prev).toBe(at(entries, 2).hash);
    for (const entry of entries) {
      expect(entry.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(hashEntry(entry)).toBe(entry.hash);
    }
  });

  it('covers seq and prev, so a moved or relinked entry has another hash', () => {
    const entry = at(buildChain(2), 2);
    expect(hashEntry({ ...entry, seq: 3 })).not.toBe(entry.hash);
    expect(hashEntry({ ...entry, prev: GENESIS_HASH })).not.toBe(entry.hash);
    expect(hashEntry({ ...entry, data: { ...entry.data, extra: 1 } })).not.toBe(entry.hash);
  });

  it('ignores properties outside an audit entry, such as a row id', () => {
    const entry = at(buildChain(1), 1);
    expect(hashEntry({ ...entry, id: 99 } as AuditEntry)).toBe(entry.hash);
    expect(
      Object.keys(chainEntry(undefined, { ...fieldsFor(1, new ManualClock()), id: 99 } as AuditFields)),
    ).not.toContain('id');
  });

  it('refuses details that are not JSON', () => {
    const fields = fieldsFor(1, new ManualClock());
    expect(() => chainEntry(undefined, { ...fields, data: { when: new Date(0) } })).toThrow(InputError);
    expect(() => chainEntry(undefined, { ...fields, data: { n: NaN } })).toThrow('$.data.n is NaN');
  });
});

describe('verifyChain', () => {
  it('accepts an intact chain of 50 entries, read once from a single-pass source', () => {
    const entries = buildChain();
    expect(verifyChain(once(entries))).toEqual({
      ok: true,
      count: 50,
      head: { seq: 50, hash: at(entries, 50).hash },
    });
    expect(verifyChain(entries, { head: { seq: 50, hash: at(entries, 50).hash } }).ok).toBe(true);
  });

  it('accepts entries written after a recorded head', () => {
    const entries = buildChain();
    expect(verifyChain(entries, { head: { seq: 40, hash: at(entries, 40).hash } })).toMatchObject({
      ok: true,
      count: 50,
    });
  });

  it('accepts an empty log, which has no head', () => {
    expect(verifyChain([])).toEqual({ ok: true, count: 0, head: undefined });
  });

  it.each([
    ['data', (e: AuditEntry): AuditEntry => ({ ...e, data: { ...e.data, version: 'v999' } })],
    ['actor', (e: AuditEntry): AuditEntry => ({ ...e, actor: 'user:mallory' })],
    ['at', (e: AuditEntry): AuditEntry => ({ ...e, at: e.at - 3_600_000 })],
    ['result', (e: AuditEntry): AuditEntry => ({ ...e, result: 'failed', reason: 'timed out' })],
  ])('names entry 10 as edited when its %s is changed', (_field, change) => {
    const entries = withEntry(buildChain(), 10, change);
    expect(verifyChain(entries)).toEqual({
      ok: false,
      count: 9,
      firstBad: 10,
      problem: 'edited',
      message: 'entry 10 was edited: its hash does not match its content',
    });
  });

  it('names entry 10 as edited when its hash was recomputed after the change, since entry 11 records the old one', () => {
    const entries = withEntry(buildChain(), 10, (e) => rehashed({ ...e, actor: 'user:mallory' }));
    expect(verifyChain(entries)).toEqual({
      ok: false,
      count: 9,
      firstBad: 10,
      problem: 'edited',
      message: 'entry 10 was edited: its hash was recomputed, and entry 11 records the hash it had before',
    });
  });

  it('names entry 10 as out of order when entries 10 and 11 are swapped', () => {
    const entries = buildChain();
    [entries[9], entries[10]] = [at(entries, 11), at(entries, 10)];
    expect(verifyChain(entries)).toMatchObject({
      ok: false,
      count: 9,
      firstBad: 10,
      problem: 'reordered',
      message: 'entry 10 is out of order: it comes after entry 11',
    });
  });

  it('names entry 10 as out of order when entries 10 and 40 are swapped', () => {
    const entries = buildChain();
    [entries[9], entries[39]] = [at(entries, 40), at(entries, 10)];
    expect(verifyChain(entries)).toMatchObject({
      ok: false,
      firstBad: 10,
      problem: 'reordered',
      message: 'entry 10 is out of order: entry 40 comes in its place, and entry 11 after that',
    });
  });

  it('names entry 10 as out of order when entries 10 to 12 are reversed', () => {
    const entries = buildChain();
    entries.splice(9, 3, at(entries, 12), at(entries, 11), at(entries, 10));
    expect(verifyChain(entries)).toMatchObject({
      ok: false,
      count: 9,
      firstBad: 10,
      problem: 'reordered',
      message: 'entry 10 is out of order: entry 12 comes in its place, and entry 11 after that',
    });
  });

  it.each([15, 50])('names entry 10 as out of order when entry %i is moved before it', (moved) => {
    const entries = buildChain();
    const [entry] = entries.splice(moved - 1, 1);
    if (entry === undefined) throw new Error('nothing moved');
    entries.splice(9, 0, entry);
    expect(verifyChain(entries)).toEqual({
      ok: false,
      count: 9,
      firstBad: 10,
      problem: 'reordered',
      message: `entry 10 is out of order: entry ${moved} was moved before it`,
    });
  });

  describe('an inserted entry', () => {
    const forged = (entries: AuditEntry[]): AuditEntry =>
      chainEntry(at(entries, 10), {
        ...fieldsFor(11, new ManualClock()),
        actor: 'user:mallory',
        action: 'user.add',
      });

    it('is found when its own hash is recomputed and the entries after it are unchanged', () => {
      const entries = buildChain();
      entries.splice(10, 0, forged(entries));
      expect(verifyChain(entries)).toEqual({
        ok: false,
        count: 10,
        firstBad: 11,
        problem: 'inserted',
        message:
          'entry 11 was inserted: seq 11 appears at positions 11 and 12, and the one at position 11 is not in the chain',
      });
    });

    it('is found when its hash is left wrong', () => {
      const entries = buildChain();
      entries.splice(10, 0, { ...forged(entries), hash: 'f'.repeat(64) });
      expect(verifyChain(entries)).toMatchObject({
        ok: false,
        count: 10,
        firstBad: 11,
        problem: 'inserted',
        message:
          'an entry was inserted at 11: the entry at position 11 is not in the chain, and entry 11 after it follows entry 10',
      });
    });

    it('is found when it links elsewhere, whatever seq it claims', () => {
      const entries = buildChain();
      entries.splice(10, 0, rehashed({ ...forged(entries), seq: 999, prev: 'a'.repeat(64) }));
      expect(verifyChain(entries)).toMatchObject({
        ok: false,
        firstBad: 11,
        problem: 'inserted',
        message:
          'an entry was inserted at 11: the entry at position 11 (claiming seq 999) is not in the chain, and entry 11 after it follows entry 10',
      });
    });

    it('is found when the entries after it were renumbered without recomputing their hashes', () => {
      const entries = buildChain();
      const later = entries.splice(10).map((e) => ({ ...e, seq: e.seq + 1 }));
      entries.push(forged(entries), ...later);
      expect(verifyChain(entries)).toMatchObject({
        ok: false,
        count: 10,
        firstBad: 11,
        problem: 'inserted',
        message:
          'entry 11 was inserted: the entry at position 11 took its place, and the entry after it also follows entry 10',
      });
    });

    it('is found when an entry is replayed right after itself, in the place of entry 11', () => {
      const entries = buildChain();
      entries.splice(10, 0, { ...at(entries, 10) });
      expect(verifyChain(entries)).toMatchObject({
        ok: false,
        count: 10,
        firstBad: 11,
        problem: 'inserted',
        message:
          'an entry was inserted at 11: the entry at position 11 (claiming seq 10) is not in the chain, and entry 11 after it follows entry 10',
      });
    });

    it('is found when it is a copy of a later entry, which stays in its place', () => {
      const entries = buildChain();
      entries.splice(9, 0, { ...at(entries, 15) });
      expect(verifyChain(entries)).toMatchObject({
        ok: false,
        count: 9,
        firstBad: 10,
        problem: 'inserted',
        message:
          'an entry was inserted at 10: the entry at position 10 (claiming seq 15) is not in the chain, and entry 10 after it follows entry 9',
      });
    });

    it('is found when it is appended after the recorded head without linking to it', () => {
      const entries = buildChain();
      entries.push(rehashed({ ...forged(entries), seq: 51, prev: 'b'.repeat(64) }));
      expect(verifyChain(entries, { head: { seq: 50, hash: at(entries, 50).hash } })).toMatchObject({
        ok: false,
        count: 50,
        firstBad: 51,
        problem: 'inserted',
      });
    });
  });

  it('names entry 11, the first after the gap, when entry 10 is deleted', () => {
    const entries = buildChain();
    entries.splice(9, 1);
    expect(verifyChain(entries)).toEqual({
      ok: false,
      count: 9,
      firstBad: 11,
      problem: 'deleted',
      message: 'entry 10 was deleted: entry 11 follows entry 9',
    });
  });

  it('names the first entry left when the oldest entries are deleted', () => {
    const entries = buildChain().slice(3);
    expect(verifyChain(entries)).toMatchObject({
      ok: false,
      count: 0,
      firstBad: 4,
      problem: 'deleted',
      message: 'entries 1–3 were deleted: the log starts at entry 4',
    });
  });

  it('finds the last 3 entries removed only against a recorded head', () => {
    const entries = buildChain();
    const head = { seq: 50, hash: at(entries, 50).hash };
    const truncated = entries.slice(0, 47);
    // On its own the shorter chain is valid: nothing in it says it once went further.
    expect(verifyChain(truncated)).toMatchObject({ ok: true, count: 47 });
    expect(verifyChain(truncated, { head })).toEqual({
      ok: false,
      count: 47,
      firstBad: 48,
      problem: 'truncated',
      message:
        'the log was truncated: it ends at entry 47, but entry 50 was recorded as the head (entries 48–50 missing)',
    });
    expect(verifyChain([], { head })).toMatchObject({ ok: false, firstBad: 1, problem: 'truncated' });
  });

  it('cannot see a change covered by recomputing every later hash, but a head recorded earlier can', () => {
    const original = buildChain();
    const head = { seq: 50, hash: at(original, 50).hash };
    // Rewrite entry 10 and rebuild the whole chain after it, as someone with write access could.
    const rewritten: AuditEntry[] = original.slice(0, 9);
    for (const entry of original.slice(9)) {
      const fields = entry.seq === 10 ? { ...entry, actor: 'user:mallory' } : entry;
      rewritten.push(chainEntry(rewritten.at(-1), fields));
    }
    expect(verifyChain(rewritten)).toMatchObject({ ok: true, count: 50 });
    expect(verifyChain(rewritten, { head })).toEqual({
      ok: false,
      count: 49,
      firstBad: 50,
      problem: 'edited',
      message:
        'entry 50 does not match the recorded head: it or an entry before it was changed and the hashes recomputed',
    });
    // A head recorded when the log had only 20 entries catches it as soon as the chain passes seq 20.
    expect(verifyChain(rewritten, { head: { seq: 20, hash: at(original, 20).hash } })).toMatchObject({
      ok: false,
      count: 19,
      firstBad: 20,
      problem: 'edited',
    });
  });

  it('refuses a malformed head', () => {
    expect(() => verifyChain(buildChain(2), { head: { seq: 1.5, hash: GENESIS_HASH } })).toThrow(InputError);
    expect(() => verifyChain(buildChain(2), { head: { seq: 2, hash: 'nope' } })).toThrow('head must be');
  });

  describe('continuing from an archive', () => {
    const entries = buildChain();
    const archived = entries.slice(0, 30);
    const live = entries.slice(30);
    const archiveEnd = { seq: 30, hash: at(entries, 30).hash };

    it('verifies the live part after the archive, and the archive from its file', () => {
      const archive = parseJsonLines(toJsonLines(archived));
      expect(verifyChain(archive)).toEqual({ ok: true, count: 30, head: archiveEnd });
      expect(verifyChain(live, { startAfter: archiveEnd })).toEqual({
        ok: true,
        count: 20,
        head: { seq: 50, hash: at(entries, 50).hash },
      });
      expect(
        verifyChain(live, { startAfter: archiveEnd, head: { seq: 50, hash: at(entries, 50).hash } }).ok,
      ).toBe(true);
    });

    it('continues a chain from the head a verification returned', () => {
      const result = verifyChain(entries);
      if (!result.ok) throw new Error(result.message);
      const next = chainEntry(result.head, fieldsFor(51, new ManualClock()));
      expect(next).toMatchObject({ seq: 51, prev: at(entries, 50).hash });
      expect(verifyChain([next], { startAfter: result.head }).ok).toBe(true);
    });

    it('reports the archived entries as deleted when the live part is read without its archive', () => {
      expect(verifyChain(live)).toMatchObject({
        ok: false,
        firstBad: 31,
        problem: 'deleted',
        message: 'entries 1–30 were deleted: the log starts at entry 31',
      });
    });

    it('refuses a live part that does not follow the archive', () => {
      expect(verifyChain(live, { startAfter: { seq: 30, hash: 'c'.repeat(64) } })).toMatchObject({
        ok: false,
        count: 0,
        firstBad: 31,
        problem: 'edited',
        message:
          'entry 31 does not follow entry 30, where the chain continues from: one of them was edited and its hash recomputed',
      });
      expect(verifyChain(live.slice(1), { startAfter: archiveEnd })).toMatchObject({
        ok: false,
        firstBad: 32,
        problem: 'deleted',
        message: 'entry 31 was deleted: entry 32 follows entry 30',
      });
    });
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}',
    );
  });

  it('gives the same text for equal values built in another order', () => {
    const one: Record<string, unknown> = { actor: 'engine', data: { x: 1, y: 2 } };
    const other: Record<string, unknown> = {};
    other.data = { y: 2, x: 1 };
    other.actor = 'engine';
    expect(canonicalJson(other)).toBe(canonicalJson(one));
  });

  it('sorts keys by UTF-16 code units, as JCS does, not by code points', () => {
    // '😀' (U+1F600) is the surrogate pair D83D DE00, so it sorts before 'ﬁ' (U+FB01) by code units.
    expect(canonicalJson({ ﬁ: 1, '😀': 2, é: 3, Z: 4, a: 5 })).toBe('{"Z":4,"a":5,"é":3,"😀":2,"ﬁ":1}');
  });

  it('keeps unicode text as it is and escapes control characters and quotes', () => {
    expect(canonicalJson('héllo 😀 "q" \\ \n\t\u0001')).toBe('"héllo 😀 \\"q\\" \\\\ \\n\\t\\u0001"');
  });

  it('writes numbers in their shortest form, with -0 as 0', () => {
    expect(canonicalJson([-0, 0, 1, -1.5, 0.1, 1e21, 1e-7, 2 ** 53])).toBe(
      '[0,0,1,-1.5,0.1,1e+21,1e-7,9007199254740992]',
    );
  });

  it('drops object members that are undefined', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson(Object.assign(Object.create(null) as object, { k: 'v' }))).toBe('{"k":"v"}');
  });

  it.each([
    ['NaN', { n: NaN }, '$.n is NaN'],
    ['Infinity', { n: [1, Infinity] }, '$.n[1] is Infinity'],
    ['-Infinity', -Infinity, '$ is -Infinity'],
    ['a function', { f: () => 1 }, '$.f is a function'],
    ['a bigint', { b: 1n }, '$.b is a bigint'],
    ['a symbol', [Symbol('s')], '$[0] is a symbol'],
    ['undefined outside an object member', [undefined], '$[0] is a undefined'],
    ['a Date', { when: new Date(0) }, '$.when is a Date, not a plain object'],
    ['a Map', new Map(), '$ is a Map, not a plain object'],
  ])('refuses %s with a clear error', (_name, value, message) => {
    expect(() => canonicalJson(value)).toThrow(InputError);
    expect(() => canonicalJson(value)).toThrow(`canonicalJson: ${message}`);
  });

  it('refuses a value that contains itself, but not one shared twice', () => {
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    expect(() => canonicalJson(loop)).toThrow('$.self refers back to itself');
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });
});

describe('JSON lines', () => {
  it('round-trips a chain, one canonical line per entry', () => {
    const entries = buildChain(5);
    const text = toJsonLines(entries);
    const lines = text.split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[5]).toBe('');
    expect(lines[0]).toBe(toJsonLine(at(entries, 1)));
    expect(JSON.parse(lines[0] ?? '')).toEqual(at(entries, 1));
    expect(parseJsonLines(text)).toEqual(entries);
    expect(verifyChain(parseJsonLines(text)).ok).toBe(true);
  });

  it('skips blank lines and reads Windows line ends', () => {
    const entries = buildChain(2);
    const text = `\n${toJsonLine(at(entries, 1))}\r\n\n${toJsonLine(at(entries, 2))}\r\n`;
    expect(parseJsonLines(text)).toEqual(entries);
    expect(toJsonLines([])).toBe('');
    expect(parseJsonLines('')).toEqual([]);
  });

  it('leaves tampering to verifyChain: an edited line still parses', () => {
    const text = toJsonLines(buildChain(3)).replace('token:deploy-bot', 'user:mallory');
    expect(verifyChain(parseJsonLines(text))).toMatchObject({ ok: false, firstBad: 1, problem: 'edited' });
  });

  const good = JSON.parse(toJsonLine(at(buildChain(1), 1))) as Record<string, unknown>;
  const line = (change: Record<string, unknown>): string => JSON.stringify({ ...good, ...change });
  const withoutField = (field: string): string => JSON.stringify({ ...good, [field]: undefined });

  it.each([
    ['a line that is not JSON', '{"seq": 1,', /^line 2: not JSON: /],
    ['a JSON value that is not an object', '[1,2]', 'line 2: an audit entry must be a JSON object'],
    ['a missing field', withoutField('reason'), 'line 2: missing field "reason"'],
    ['an unknown field, which the hash would not cover', line({ note: 'x' }), 'line 2: unknown field "note"'],
    ['a seq that is not a whole number', line({ seq: 1.5 }), 'line 2: seq must be a whole number ≥ 1'],
    ['a seq of 0', line({ seq: 0 }), 'line 2: seq must be a whole number ≥ 1'],
    ['a time that is text', line({ at: '2024-01-01' }), 'line 2: at must be a whole number of ms'],
    ['an actor that is not text', line({ actor: 7 }), 'line 2: actor must be a string'],
    ['a target that is not text or null', line({ target: {} }), 'line 2: target must be a string or null'],
    ['an unknown result', line({ result: 'maybe' }), 'line 2: result must be one of ok, denied, failed'],
    ['data that is an array', line({ data: [] }), 'line 2: data must be an object'],
    ['a prev that is not a SHA-256', line({ prev: 'abc' }), 'line 2: prev must be 64 lowercase hex digits'],
    ['a hash in upper case', line({ hash: 'A'.repeat(64) }), 'line 2: hash must be 64 lowercase hex digits'],
  ])('names the line of %s', (_name, bad, message) => {
    const text = `${toJsonLine(at(buildChain(1), 1))}\n${bad}\n`;
    expect(() => parseJsonLines(text)).toThrow(InputError);
    expect(() => parseJsonLines(text)).toThrow(message);
  });
});
