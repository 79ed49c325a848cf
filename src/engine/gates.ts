/**
 * The release checklist at a release's gates (docs/architecture.md, "Gates"), or no checklist at all
 * (`checklist.template: none`), when nothing holds a release at a gate. It judges a gate and says, in
 * words that say what to do, why a release waits there; the engine moves the release.
 */
import type { AnalysisPolicy } from '../analysis/analysis-policy.js';
import type { ChecklistRunner, GateOutcome } from '../checklist/checklist-runner.js';
import type { ResolvedItem } from '../checklist/template.js';
import type { Gate } from '../domain/checklist.js';
import { ConflictError } from '../errors.js';
import type { ChecklistItemRow, ReleaseRow, Store } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import { Reasons } from './reasons.js';

/** The checklist a unit's releases get: its runner and the resolved template items. */
export interface ReleaseChecklist {
  runner: ChecklistRunner;
  items: () => readonly ResolvedItem[];
}

/** How a release stands at a gate. */
export type GateJudgement =
  | { action: 'pass' }
  /** A failed check after the pre-deploy gate, or an item inconclusive for too long. */
  | { action: 'rollback'; reason: string }
  /** Items to sign, checks running or unable to judge; `blocked` by a failed pre-deploy check. */
  | { action: 'wait'; reason: string; blocked: boolean };

/** What the gates of one unit's releases need. */
export interface GatesOptions {
  /** None with `checklist.template: none`. */
  checklist: ReleaseChecklist | undefined;
  store: Store;
  /** Judges items that cannot judge, under analysis.onInconclusive. */
  analysis: AnalysisPolicy;
  /** The unit the releases belong to: `web` or `web@production`. */
  unit: string;
  clock: Clock;
}

/** The gates of one unit's releases. */
export class Gates {
  private readonly checklist: ReleaseChecklist | undefined;

  constructor(private readonly options: GatesOptions) {
    this.checklist = options.checklist;
  }

  /**
   * Gives a new release its checklist. A rollback release restores a known version in a hurry: it
   * carries the rollback gate's items (previous version serving, down migrations, CDN, rollback
   * verified), checked once traffic is back.
   */
  async create(release: ReleaseRow): Promise<void> {
    if (!this.checklist) return;
    const items = this.checklist.items();
    await this.checklist.runner.create(
      release,
      release.kind === 'deploy' ? items : items.filter((item) => item.gate === 'rollback'),
    );
  }

  /**
   * How `release` stands at `gate`, starting the gate's automated items in the background; undefined
   * without a checklist, where the release goes on. A failed check blocks a release at `pre-deploy`
   * and rolls it back at a later gate.
   */
  async judge(release: ReleaseRow, gate: Gate): Promise<GateJudgement | undefined> {
    if (!this.checklist) return undefined;
    const outcome = await this.checklist.runner.gate(release, gate);
    if (outcome.status === 'passed') return { action: 'pass' };
    if (outcome.status === 'failed' && outcome.failed && gate !== 'pre-deploy') {
      return { action: 'rollback', reason: Reasons.checkFailed(gate, describeItem(outcome.failed)) };
    }
    const stale = this.options.analysis.inconclusiveTooLong(outcome.inconclusive, this.options.clock.now());
    if (stale && gate !== 'pre-deploy' && gate !== 'rollback') {
      // analysis.onInconclusive: rollback also covers items that stay unable to judge for the same grace.
      return { action: 'rollback', reason: Reasons.itemInconclusive(gate, describeItem(stale)) };
    }
    return { action: 'wait', reason: waitingReason(gate, outcome), blocked: outcome.failed !== undefined };
  }

  /** Whether the rollback gate's automated items (a CDN purge, down migrations) are still running. */
  async rollbackChecksRunning(release: ReleaseRow): Promise<boolean> {
    if (!this.checklist) return false;
    const gate = await this.checklist.runner.gate(release, 'rollback');
    return gate.running.length > 0;
  }

  /** Marks a first release's canary items not applicable: it has nothing to compare with. */
  async skipCanary(release: ReleaseRow): Promise<void> {
    await this.checklist?.runner.skip(release, 'canary', 'not applicable: a first release has no canary');
  }

  /** The items of a release's checklist; none without a checklist. */
  async items(release: ReleaseRow): Promise<ChecklistItemRow[]> {
    return this.checklist ? this.options.store.listChecklist(release.id) : [];
  }

  /** The runner, for a command on the checklist; ConflictError when the unit has none. */
  runner(): ChecklistRunner {
    if (!this.checklist)
      throw new ConflictError(`service ${this.options.unit} has no checklist (checklist.template: none)`);
    return this.checklist.runner;
  }

  /** Stops the automated items running for a release, or for every release. */
  abort(releaseId?: number): void {
    this.checklist?.runner.abort(releaseId);
  }

  /** Stops the runner. */
  async close(): Promise<void> {
    await this.checklist?.runner.close();
  }
}

/** `"Run full test suite" (pre-deployment/testing/run-full-test-suite): npm test: exit 1 in 3.2s` */
function describeItem(item: ChecklistItemRow): string {
  const last = item.evidence[item.evidence.length - 1];
  return `"${item.title}" (${item.id})${last ? `: ${last.summary}` : ''}`;
}

/** Why a release waits at a gate, in words that say what to do. */
function waitingReason(gate: Gate, outcome: GateOutcome): string {
  if (outcome.failed) {
    return Reasons.blockedAtGate(gate, describeItem(outcome.failed));
  }
  const parts: string[] = [];
  if (outcome.toSign.length > 0) {
    parts.push(
      `${outcome.toSign.length} item${outcome.toSign.length > 1 ? 's' : ''} to sign: ${outcome.toSign.map((i) => i.id).join(', ')}`,
    );
  }
  if (outcome.inconclusive.length > 0) {
    const n = outcome.inconclusive.length;
    parts.push(
      `${n} item${n > 1 ? 's' : ''} inconclusive (checked again each analysis.interval; rerun, sign or waive): ` +
        outcome.inconclusive.map(describeItem).join('; '),
    );
  }
  if (outcome.running.length > 0) {
    parts.push(
      `${outcome.running.length} check${outcome.running.length > 1 ? 's' : ''} running: ${outcome.running.map((i) => i.id).join(', ')}`,
    );
  }
  return `waiting at the ${gate} gate: ${parts.join('; ')}`;
}
