import type { Logger } from 'pino';
import { ConflictError, ForbiddenError, InputError, NotFoundError } from '../errors.js';
import type { ChecklistItemRow, ReleaseRow, Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import { keepTail } from '../util/cut.js';
import { MAX_EVIDENCE_ENTRIES } from './evidence.js';
import { type Sealer, openParams, paramsAad, sealParams } from '../security/sealed-params.js';
import { gateItems } from './gate-items.js';
import type { ResolvedItem } from './template.js';
import type { CheckContext, CheckKind, CheckResult } from './types.js';
import { type Evidence, GATES, type Gate } from '../domain/checklist.js';
import { type ReleasePhase, TERMINAL_STATES } from '../domain/release.js';

/** Who runs automated checks, as evidence names it. */
const AUTOMATION = 'shipcheck';
/** Longest note or reason quoted back when an item is signed or waived again. */
const QUOTED_NOTE_CHARS = 80;
/** Output kept per evidence entry (its end, after a note of what was cut); a check's own excerpt is usually shorter. */
export const MAX_OUTPUT_CHARS = 8192;

/** Item states that no longer hold a gate: signing or waiving such an item again changes nothing. */
export const SETTLED_STATES: ReadonlySet<ChecklistItemRow['state']> = new Set([
  'passed',
  'waived',
  'not-applicable',
]);

/** What `signGate` signed, and at which gate. */
export interface GateSignature {
  gate: Gate;
  signed: ChecklistItemRow[];
}

/** Where a release stands at one gate. */
export interface GateOutcome {
  status: 'passed' | 'waiting' | 'failed';
  /** Manual items at this gate still to sign. */
  toSign: ChecklistItemRow[];
  /** Automated items at this gate still running (or about to). */
  running: ChecklistItemRow[];
  /** Items that could not judge (no data yet); they hold the release until they pass or a person acts. */
  inconclusive: ChecklistItemRow[];
  /** The first failed item, when status is `failed`. */
  failed: ChecklistItemRow | undefined;
}

/**
 * Who signs, waives or re-runs an item: the authenticated person, never a name a caller typed, and
 * the teams they belong to (a manual item's `role` names one). `groups` undefined: authentication is
 * off, and anyone may sign anything.
 */
export interface Signer {
  name: string;
  groups: readonly string[] | undefined;
}

/** The gate a release's phase has reached or comes to next: items of earlier gates are behind it. */
const NEXT_GATE: Record<ReleasePhase, Gate> = {
  'pre-deploy': 'pre-deploy',
  migrating: 'canary',
  starting: 'canary',
  canary: 'canary',
  verifying: 'verify',
  verify: 'verify',
  'post-deploy': 'post-deploy',
  'rolling-back': 'rollback',
  completed: 'rollback',
};

/** The gate a release is at, derived from its phase; undefined between gates. */
export function gateOf(release: ReleaseRow): Gate | undefined {
  // A rollback release's only gate is `rollback`, checked once its version serves again.
  if (release.kind === 'rollback')
    return release.phase === 'verifying' || release.phase === 'completed' ? 'rollback' : undefined;
  switch (release.phase) {
    case 'pre-deploy':
    case 'canary':
    case 'verify':
    case 'post-deploy':
      return release.phase;
    case 'rolling-back':
      return 'rollback';
    case 'completed':
      return release.state === 'succeeded' ? undefined : 'rollback';
    default:
      return undefined;
  }
}

/** What the runner needs from its surroundings. */
export interface ChecklistRunnerOptions {
  store: Store;
  kinds: ReadonlyMap<string, CheckKind<unknown>>;
  clock: Clock;
  logger: Logger;
  /** The context checks of `release` run in, without the abort signal (the runner owns it). */
  context: (release: ReleaseRow) => Omit<CheckContext, 'signal'>;
  /** Seals params that hold a secret before they are stored; absent, params are stored as they are. */
  sealer?: Sealer;
  /** Called after an item changes, so the engine can publish an event. */
  onItem?: (release: ReleaseRow, item: ChecklistItemRow) => void;
  /**
   * How often an inconclusive item is run again while its gate holds the release (analysis.interval):
   * data may arrive, and the release then goes on by itself.
   */
  recheckMs: number;
}

/** Instantiates a release's checklist, runs its automated items at each gate, and takes sign-offs. */
export class ChecklistRunner {
  private readonly running = new Map<string, AbortController>();
  private readonly tasks = new Set<Promise<void>>();

  constructor(private readonly options: ChecklistRunnerOptions) {}

  /** Stores the release's checklist from resolved template items; idempotent. */
  async create(release: ReleaseRow, items: readonly ResolvedItem[]): Promise<void> {
    const now = this.options.clock.now();
    await this.options.store.createChecklist(
      items.map((item, position) => ({
        releaseId: release.id,
        id: item.id,
        position,
        section: item.section,
        title: item.title,
        kind: item.kind,
        gate: item.gate,
        params: this.options.sealer
          ? sealParams(item.params, this.options.sealer, paramsAad(release.id, item.id))
          : item.params,
        hint: item.hint ?? null,
        automated: item.automated,
        state: 'pending',
        evidence: [],
        updatedAt: now,
      })),
    );
  }

  /**
   * Starts the gate's automated items that have not run (or whose run a crash interrupted) and says
   * whether the release may pass. Cheap to call on every reconcile.
   */
  async gate(release: ReleaseRow, gate: Gate): Promise<GateOutcome> {
    let items = (await this.options.store.listChecklist(release.id)).filter((i) => i.gate === gate);
    const now = this.options.clock.now();
    const toStart = items.filter(
      (i) =>
        i.automated &&
        (i.state === 'pending' ||
          (i.state === 'running' && !this.running.has(key(release, i))) ||
          (i.state === 'inconclusive' &&
            !this.running.has(key(release, i)) &&
            now - lastAt(i) >= this.options.recheckMs)),
    );
    for (const item of toStart) await this.start(release, item);
    if (toStart.length > 0) {
      items = (await this.options.store.listChecklist(release.id)).filter((i) => i.gate === gate);
    }
    const { toSign, running, inconclusive, failed } = gateItems(items, gate);
    const open = toSign.length + running.length + inconclusive.length;
    const status = failed.length > 0 ? 'failed' : open === 0 ? 'passed' : 'waiting';
    return { status, toSign, running, inconclusive, failed: failed[0] };
  }

  /** Signs a manual item of the gate the release is at. */
  async sign(
    release: ReleaseRow,
    itemId: string,
    signer: Signer,
    note: string | undefined,
  ): Promise<ChecklistItemRow> {
    const item = await this.item(release, itemId);
    const by = signer.name;
    // A person may judge what a check could not: an inconclusive automated item can be signed.
    if (item.automated && item.state !== 'inconclusive') {
      throw new ConflictError(
        `"${item.id}" is an automated ${item.kind} check and cannot be signed; waive it with a reason instead`,
      );
    }
    // Before the gate check: once its last item is signed the release moves on, and a repeat must
    // still hear that it was signed, not that the item belongs to another gate.
    const settled = describeSettled(item);
    if (settled) throw new ConflictError(`${settled}; nothing to do`);
    const current = gateOf(release);
    if (item.gate !== current) {
      throw new ConflictError(
        `"${item.id}" belongs to the ${item.gate} gate; release #${release.id} is ` +
          (current ? `at the ${current} gate` : `between gates (${release.phase})`),
      );
    }
    const role = typeof item.params.role === 'string' ? item.params.role : undefined;
    if (role !== undefined && signer.groups !== undefined && !signer.groups.includes(role)) {
      throw new ForbiddenError(
        `"${item.id}" is signed by the ${role} role; ${by} is not in it (an admin adds it with "shipcheck user add --group ${role}")`,
      );
    }
    // A check of an inconclusive item may be running again; the person's judgement wins.
    this.running.get(key(release, item))?.abort();
    const evidence: Evidence = { at: this.options.clock.now(), summary: `signed by ${by}`, by };
    if (note) evidence.note = note;
    return this.set(release, item, 'passed', evidence);
  }

  /** Waives an item that has not passed, with a reason that is kept as evidence. */
  async waive(
    release: ReleaseRow,
    itemId: string,
    signer: Signer,
    reason: string,
  ): Promise<ChecklistItemRow> {
    if (!reason.trim()) throw new InputError('waiving an item needs a reason');
    const by = signer.name;
    const item = await this.item(release, itemId);
    const settled = describeSettled(item);
    if (settled) throw new ConflictError(`${settled}; nothing to waive`);
    // A waiver looks ahead: it cannot reach back to a gate the release has passed, nor into a
    // release that has ended (except the rollback gate it ended at).
    const ended = TERMINAL_STATES.includes(release.state);
    const reached = NEXT_GATE[release.phase];
    const behind = GATES.indexOf(item.gate) < GATES.indexOf(reached);
    if (item.gate !== 'scheduled' && (ended ? item.gate !== gateOf(release) : behind)) {
      throw new ConflictError(
        `"${item.id}" belongs to the ${item.gate} gate, which release #${release.id} ` +
          (ended
            ? `no longer checks (it ended ${release.state})`
            : `has passed (it is at ${release.phase})`) +
          '; only items of the current or a later gate of an active release can be waived',
      );
    }
    this.running.get(key(release, item))?.abort();
    const evidence: Evidence = { at: this.options.clock.now(), summary: `waived by ${by}`, by, note: reason };
    return this.set(release, item, 'waived', evidence);
  }

  /**
   * Signs every pending manual item of the gate the release is at, with one note. ConflictError when
   * the release is at no gate, or nothing is left to sign there (the message says what it waits on).
   */
  async signGate(release: ReleaseRow, signer: Signer, note: string | undefined): Promise<GateSignature> {
    const gate = gateOf(release);
    if (!gate) {
      throw new ConflictError(
        `release #${release.id} is at no gate (phase ${release.phase}); nothing to sign until it reaches one`,
      );
    }
    const items = (await this.options.store.listChecklist(release.id)).filter((i) => i.gate === gate);
    const { toSign } = gateItems(items, gate);
    if (toSign.length === 0) {
      const open = items.filter((i) => !SETTLED_STATES.has(i.state));
      const waitsOn =
        open.length > 0 ? `; it waits on ${open.map((i) => `${i.id} (${i.state})`).join(', ')}` : '';
      throw new ConflictError(`nothing left to sign at the ${gate} gate of release #${release.id}${waitsOn}`);
    }
    const signed: ChecklistItemRow[] = [];
    for (const item of toSign) signed.push(await this.sign(release, item.id, signer, note));
    return { gate, signed };
  }

  /** Runs a failed automated item again. */
  async rerun(release: ReleaseRow, itemId: string, signer: Signer): Promise<ChecklistItemRow> {
    const by = signer.name;
    const item = await this.item(release, itemId);
    if (!item.automated) throw new ConflictError(`"${item.id}" is a manual item; sign it instead`);
    if (item.state !== 'failed' && item.state !== 'inconclusive')
      throw new ConflictError(
        `"${item.id}" is ${item.state}; only a failed or inconclusive check can be re-run`,
      );
    return this.set(release, item, 'pending', {
      at: this.options.clock.now(),
      summary: `re-run asked by ${by}`,
      by,
    });
  }

  /** Marks a gate's open items not applicable, e.g. the canary gate of a first release. */
  async skip(release: ReleaseRow, gate: Gate, why: string): Promise<void> {
    const items = (await this.options.store.listChecklist(release.id)).filter(
      (i) => i.gate === gate && (i.state === 'pending' || i.state === 'running'),
    );
    for (const item of items) {
      this.running.get(key(release, item))?.abort();
      await this.set(release, item, 'not-applicable', {
        at: this.options.clock.now(),
        summary: why,
        by: AUTOMATION,
      });
    }
  }

  /** Stops the checks still running for a release (it ended, or the control plane stops). */
  abort(releaseId?: number): void {
    for (const [k, controller] of this.running) {
      if (releaseId === undefined || k.startsWith(`${releaseId}:`)) controller.abort();
    }
  }

  /** The context checks of `release` run in, without the abort signal; scheduled runs use it too. */
  contextOf(release: ReleaseRow): Omit<CheckContext, 'signal'> {
    return this.options.context(release);
  }

  /** Aborts every check and waits for them to wind down. */
  async close(): Promise<void> {
    this.abort();
    await Promise.allSettled(this.tasks);
  }

  private async item(release: ReleaseRow, itemId: string): Promise<ChecklistItemRow> {
    const items = await this.options.store.listChecklist(release.id);
    const item = items.find((i) => i.id === itemId) ?? items.filter((i) => i.id.endsWith(`/${itemId}`))[0];
    if (!item) throw new NotFoundError(`no checklist item "${itemId}" in release #${release.id}`);
    return item;
  }

  private async set(
    release: ReleaseRow,
    item: ChecklistItemRow,
    state: ChecklistItemRow['state'],
    evidence?: Evidence,
    replaceLastEvidence = false,
  ): Promise<ChecklistItemRow> {
    const patch = evidence
      ? { state, evidence, replaceLastEvidence, evidenceLimit: MAX_EVIDENCE_ENTRIES }
      : { state };
    const updated = await this.options.store.updateChecklistItem(
      release.id,
      item.id,
      patch,
      this.options.clock.now(),
    );
    // A re-run that still cannot judge is not news.
    if (!replaceLastEvidence) this.options.onItem?.(release, updated);
    return updated;
  }

  private async start(release: ReleaseRow, item: ChecklistItemRow): Promise<void> {
    const controller = new AbortController();
    this.running.set(key(release, item), controller);
    // A re-run of an inconclusive item: while it still cannot judge, its one evidence entry is updated.
    const previous = item.state === 'inconclusive' ? item.evidence[item.evidence.length - 1] : undefined;
    // The item stays inconclusive while it is checked again, so the release's reason holds still.
    if (!previous) await this.set(release, item, 'running');
    const task = this.run(release, item, controller.signal)
      .then(async (result) => {
        if (controller.signal.aborted) return;
        const at = this.options.clock.now();
        const evidence: Evidence = { at, summary: result.summary, by: AUTOMATION };
        if (result.output !== undefined) evidence.output = keepTail(result.output, MAX_OUTPUT_CHARS);
        if (result.value !== undefined) evidence.value = result.value;
        if (result.data !== undefined) evidence.data = result.data;
        const state = result.ok ? 'passed' : result.inconclusive ? 'inconclusive' : 'failed';
        const again = state === 'inconclusive' && previous !== undefined;
        if (state === 'inconclusive') evidence.since = again ? (previous.since ?? previous.at) : at;
        await this.set(release, item, state, evidence, again);
      })
      .catch((err: unknown) =>
        this.options.logger.error({ err, item: item.id }, 'recording a check result failed'),
      )
      .finally(() => {
        this.running.delete(key(release, item));
        this.tasks.delete(task);
      });
    this.tasks.add(task);
  }

  private async run(release: ReleaseRow, item: ChecklistItemRow, signal: AbortSignal): Promise<CheckResult> {
    const kind = this.options.kinds.get(item.kind);
    if (!kind) return { ok: false, summary: `no check kind "${item.kind}" in this version of shipcheck` };
    const params = kind.params.safeParse(
      openParams(item.params, this.options.sealer, paramsAad(release.id, item.id)),
    );
    if (!params.success)
      return { ok: false, summary: `bad params: ${params.error.issues[0]?.message ?? 'invalid'}` };
    try {
      return await kind.run(params.data, { ...this.options.context(release), signal });
    } catch (err) {
      this.options.logger.error({ err, item: item.id }, 'check crashed');
      return { ok: false, summary: `${item.kind} check crashed: ${(err as Error).message}` };
    }
  }
}

/** When the item's newest evidence was recorded; an item with none counts as long ago. */
function lastAt(item: ChecklistItemRow): number {
  return item.evidence[item.evidence.length - 1]?.at ?? Number.NEGATIVE_INFINITY;
}

function key(release: ReleaseRow, item: ChecklistItemRow): string {
  return `${release.id}:${item.id}`;
}

/** `"x" was already signed by alice at 2026-12-06T10:00:00Z`, or undefined while the item is open. */
function describeSettled(item: ChecklistItemRow): string | undefined {
  if (!SETTLED_STATES.has(item.state)) return undefined;
  const last = item.evidence[item.evidence.length - 1];
  const when = last ? ` at ${new Date(last.at).toISOString().replace(/\.\d{3}Z$/, 'Z')}` : '';
  const text = last?.note?.replace(/\s+/g, ' ').trim() ?? '';
  const short = text.length > QUOTED_NOTE_CHARS ? `${text.slice(0, QUOTED_NOTE_CHARS - 1)}…` : text;
  const note = short ? ` ("${short}")` : '';
  switch (item.state) {
    case 'passed':
      return item.automated
        ? `"${item.id}" has already passed${last ? ` (${last.summary})` : ''}${when}`
        : `"${item.id}" was already signed by ${last?.by ?? 'someone'}${when}${note}`;
    case 'waived':
      return `"${item.id}" was already waived by ${last?.by ?? 'someone'}${when}${note}`;
    default:
      return `"${item.id}" is not applicable${last ? ` (${last.summary})` : ''}`;
  }
}
