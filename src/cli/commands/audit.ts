/**
 * `shipcheck audit verify|export`: checks the audit log's hash chain, and writes it out as JSON lines
 * that can be checked again later, away from the server (`audit verify --file`). Through the API with
 * an admin's token, or `--offline` from the store.
 */
import fs from 'node:fs';
import { parseAnchor, verifyStoredChain } from '../../api/auth-routes.js';
import { InputError } from '../../errors.js';
import {
  type AuditEntry,
  type VerifyResult,
  parseJsonLines,
  toJsonLine,
  verifyChain,
} from '../../security/audit-chain.js';
import type { AuditFilter } from '../../store/security-store.js';
import { auditArchivedShape, auditPageShape, auditVerdictShape } from '../api-shapes.js';
import { withOfflineStore } from '../offline.js';
import { type GlobalOptions, type Io, resolveServer } from '../target.js';

/** Entries asked for per page; the API's largest page. */
const EXPORT_PAGE = 1000;
/** An export holds names and addresses: readable by its owner only. */
const EXPORT_FILE_MODE = 0o600;
/** Hex digits of a hash shown in messages. */
const HASH_SHOWN = 12;

/** `audit verify` flags. */
export interface AuditVerifyOptions extends GlobalOptions {
  offline?: boolean;
  /** A file `audit export` wrote, checked instead of the log. */
  file?: string;
  /** `SEQ:HASH` from a release report: the log must still hold that entry with that hash. */
  anchor?: string;
}

/**
 * `shipcheck audit verify [--offline | --file FILE]`: 0 when the chain is intact, 1 with the first
 * bad entry's message otherwise. A file that starts after entry 1 (an export with --since) is checked
 * from its first entry on.
 */
export async function auditVerifyCommand(opts: AuditVerifyOptions, io: Io): Promise<number> {
  let verdict: VerifyResult;
  let what: string;
  if (opts.file !== undefined) {
    const text = readExport(opts.file);
    let entries: AuditEntry[];
    try {
      entries = parseJsonLines(text);
    } catch (err) {
      // A line that is not an entry any more was changed by hand: the file fails, as an edit does.
      if (!(err instanceof InputError)) throw err;
      io.err(`${opts.file} does not verify: ${err.message}`);
      return 1;
    }
    const first = entries[0];
    verdict =
      first !== undefined && first.seq > 1
        ? verifyChain(entries, { startAfter: { seq: first.seq - 1, hash: first.prev } })
        : verifyChain(entries);
    what = first !== undefined && first.seq > 1 ? `${opts.file} (from entry ${first.seq})` : opts.file;
  } else if (opts.offline) {
    const anchor = parseAnchor(opts.anchor);
    verdict = await withOfflineStore(opts.config, async ({ store }) => verifyStoredChain(store, anchor));
    what = 'the audit log';
  } else {
    const { client } = await resolveServer(opts);
    parseAnchor(opts.anchor);
    const query = opts.anchor ? `?anchor=${encodeURIComponent(opts.anchor)}` : '';
    verdict = await client.get(`/api/v1/audit/verify${query}`, auditVerdictShape);
    what = 'the audit log';
  }
  if (opts.json) io.out(JSON.stringify(verdict, null, 2));
  if (!verdict.ok) {
    io.err(`${what} does not verify: ${verdict.message}`);
    return 1;
  }
  if (!opts.json) {
    const head = verdict.head;
    io.out(
      head === undefined
        ? `${what} is empty`
        : `${what} is intact: ${verdict.count} ${verdict.count === 1 ? 'entry' : 'entries'}, up to entry ${head.seq} (${head.hash.slice(0, HASH_SHOWN)}…)`,
    );
  }
  return 0;
}

/** `audit export` flags; `-s/--service` is the global flag. */
export interface AuditExportOptions extends GlobalOptions {
  offline?: boolean;
  out?: string;
  since?: string;
  until?: string;
  actor?: string;
  action?: string;
}

/**
 * `shipcheck audit export [--out FILE] [--since T] [--until T] [--actor A] [--action X] [-s SERVICE]
 * [--offline]`: the entries, oldest first, as JSON lines on stdout or in FILE (mode 0600). Only an
 * export without --actor, --action or --service holds an unbroken chain that `audit verify --file`
 * can check.
 */
export async function auditExportCommand(opts: AuditExportOptions, io: Io): Promise<number> {
  const filter = {
    ...(opts.actor !== undefined ? { actor: opts.actor } : {}),
    ...(opts.action !== undefined ? { action: opts.action } : {}),
    ...(opts.service !== undefined ? { service: opts.service } : {}),
  };
  const fd = opts.out === undefined ? undefined : fs.openSync(opts.out, 'w', EXPORT_FILE_MODE);
  let count = 0;
  let first: number | undefined;
  let last: number | undefined;
  const write = (entries: readonly AuditEntry[]): void => {
    for (const entry of entries) {
      if (fd === undefined) io.out(toJsonLine(entry));
      else fs.writeSync(fd, `${toJsonLine(entry)}\n`);
      first ??= entry.seq;
      last = entry.seq;
      count++;
    }
  };
  try {
    if (opts.offline) {
      const since = timeOf(opts.since, '--since');
      const until = timeOf(opts.until, '--until');
      await withOfflineStore(opts.config, async ({ store }) => {
        const page = (afterSeq: number): Promise<AuditEntry[]> =>
          store.security.listAudit({
            ...filter,
            ...(since !== undefined ? { since } : {}),
            ...(until !== undefined ? { until } : {}),
            afterSeq,
            limit: EXPORT_PAGE,
          } satisfies AuditFilter);
        await pageThrough(page, write);
      });
    } else {
      const { client } = await resolveServer(opts);
      const query = new URLSearchParams({
        ...filter,
        ...(opts.since !== undefined ? { since: opts.since } : {}),
        ...(opts.until !== undefined ? { until: opts.until } : {}),
        limit: String(EXPORT_PAGE),
      });
      const page = async (after: number): Promise<AuditEntry[]> => {
        query.set('after', String(after));
        return (await client.get(`/api/v1/audit?${query.toString()}`, auditPageShape)).entries;
      };
      await pageThrough(page, write);
    }
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  if (opts.out !== undefined)
    io.err(
      count === 0
        ? `no entries to export; ${opts.out} is empty`
        : `exported ${count} ${count === 1 ? 'entry' : 'entries'} (${first}–${last}) to ${opts.out}`,
    );
  return 0;
}

/** Reads pages after the last seq seen until a page comes back short. */
async function pageThrough(
  page: (afterSeq: number) => Promise<AuditEntry[]>,
  write: (entries: readonly AuditEntry[]) => void,
): Promise<void> {
  for (let after = 0; ;) {
    const entries = await page(after);
    write(entries);
    const tail = entries[entries.length - 1];
    if (tail === undefined || entries.length < EXPORT_PAGE) return;
    after = tail.seq;
  }
}

/** An ISO time or epoch ms, as the API reads `since` and `until`. */
function timeOf(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const at = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(at))
    throw new InputError(`${flag} "${value}" is not a time: give an ISO time or epoch ms`);
  return at;
}

function readExport(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** `audit archive` flags. */
export interface AuditArchiveOptions extends GlobalOptions {
  before: string;
  out: string;
  offline?: boolean;
}

/**
 * `shipcheck audit archive --before TIME --out FILE [--offline]`: retention. Writes the entries older
 * than TIME to FILE (JSON lines, mode 0600, never over an existing file), checks that FILE continues
 * the chain from the last archive, and only then drops those entries from the log; the live chain
 * goes on from the last one archived. Exit 0 when done (or nothing was old enough), 1 when FILE does
 * not verify (nothing is dropped).
 */
export async function auditArchiveCommand(opts: AuditArchiveOptions, io: Io): Promise<number> {
  const until = timeOf(opts.before, '--before') ?? 0;
  if (fs.existsSync(opts.out)) throw new InputError(`${opts.out} exists; archive into a new file`);
  const { client } = opts.offline ? { client: undefined } : await resolveServer(opts);
  const previous = client
    ? (await client.get('/api/v1/audit?limit=1', auditPageShape)).archive
    : await withOfflineStore(opts.config, async ({ store }) => (await store.security.auditArchive()) ?? null);
  const code = await auditExportCommand({ ...opts, until: String(until), out: opts.out }, io);
  if (code !== 0) return code;
  const entries = parseJsonLines(fs.readFileSync(opts.out, 'utf8'));
  const last = entries[entries.length - 1];
  if (last === undefined) {
    fs.rmSync(opts.out);
    io.out(`no audit entry is older than ${new Date(until).toISOString()}; nothing archived`);
    return 0;
  }
  const verdict = verifyChain(entries, previous ? { startAfter: previous } : {});
  if (!verdict.ok) {
    io.err(`${opts.out} does not verify (${verdict.message}); nothing was dropped from the log`);
    return 1;
  }
  const through = { seq: last.seq, hash: last.hash };
  if (client) {
    await client.post(
      '/api/v1/audit/archive',
      { throughSeq: through.seq, hash: through.hash },
      auditArchivedShape,
    );
  } else {
    await withOfflineStore(opts.config, async ({ store, record }) => {
      await store.security.archiveAudit(through);
      await record({ action: 'audit.archive', target: null, result: 'ok', reason: null, data: through });
    });
  }
  io.out(
    `archived entries ${entries[0]!.seq}–${through.seq} to ${opts.out}; the log now starts after entry ${through.seq} (${through.hash.slice(0, HASH_SHOWN)}…)`,
  );
  return 0;
}
