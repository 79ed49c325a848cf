import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { waitFor } from '../../test/e2e/harness.js';
import { ConflictError, ForbiddenError } from '../errors.js';
import type { ChecklistItemRow, ReleaseRow } from '../store/types.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { ManualClock } from '../util/clock.js';
import { ChecklistRunner, MAX_OUTPUT_CHARS, type Signer } from './checklist-runner.js';
import { MAX_EVIDENCE_ENTRIES, droppedBy } from './evidence.js';
import { testContext } from '../../test/support/check-context.js';
import type { ResolvedItem } from './template.js';
import type { CheckKind } from './types.js';

/** A signer with no team restrictions, as when authentication is off. */
const as = (name: string): Signer => ({ name, groups: undefined });

/** Output of the chatty check: more than the runner keeps. */
const CHATTY_CHARS = 20_000;

/** A check that always fails with a long output, as a verbose test runner does. */
const chatty: CheckKind<Record<string, never>> = {
  kind: 'chatty',
  params: z.strictObject({}),
  async run() {
    return { ok: false, summary: 'exit 1', output: `${'x'.repeat(CHATTY_CHARS - 3)}END` };
  },
};

const ITEMS: ResolvedItem[] = [
  {
    id: 'pre/tests',
    section: 'Pre',
    title: 'Tests',
    kind: 'chatty',
    gate: 'pre-deploy',
    params: {},
    automated: true,
  },
  {
    id: 'pre/plan',
    section: 'Pre',
    title: 'Plan',
    kind: 'manual',
    gate: 'pre-deploy',
    params: {},
    automated: false,
  },
  {
    id: 'verify/look',
    section: 'Verify',
    title: 'Look',
    kind: 'manual',
    gate: 'verify',
    params: { role: 'sre' },
    automated: false,
  },
];

/** A runner over a real SQLite store, with one release at its pre-deploy gate. */
class Rig {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipcheck-runner-'));
  readonly store = SqliteStore.open(path.join(this.dir, 'state.db'));
  readonly clock = new ManualClock();
  readonly changed: string[] = [];
  readonly runner = new ChecklistRunner({
    store: this.store,
    kinds: new Map([['chatty', chatty as CheckKind<unknown>]]),
    clock: this.clock,
    logger: pino({ level: 'silent' }),
    recheckMs: 5000,
    context: () => testContext(),
    onItem: (_release, item) => this.changed.push(`${item.id}: ${item.state}`),
  });
  release!: ReleaseRow;

  async start(): Promise<void> {
    await this.store.migrate();
    const now = this.clock.now();
    this.release = await this.store.createRelease({
      service: 'web',
      version: 'v2',
      fromVersion: 'v1',
      kind: 'deploy',
      state: 'progressing',
      phase: 'pre-deploy',
      step: 0,
      weight: 0,
      reason: null,
      outcome: null,
      stepStartedAt: now,
      phaseStartedAt: now,
      createdAt: now,
    });
    await this.runner.create(this.release, ITEMS);
  }

  async item(id: string): Promise<ChecklistItemRow> {
    return (await this.store.listChecklist(this.release.id)).find((i) => i.id === id)!;
  }

  /** Lets the gate start its checks and waits until `id` has a result. */
  async runChecks(id: string): Promise<ChecklistItemRow> {
    await this.runner.gate(this.release, 'pre-deploy');
    await waitFor(`${id} done`, async () => (await this.item(id)).state === 'failed');
    return this.item(id);
  }

  async close(): Promise<void> {
    await this.runner.close();
    await this.store.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('ChecklistRunner', () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  it('keeps the end of a long output, with a note of how much was cut', async () => {
    rig = new Rig();
    await rig.start();
    const item = await rig.runChecks('pre/tests');
    const output = item.evidence[0]!.output!;
    const cut = (CHATTY_CHARS - MAX_OUTPUT_CHARS).toLocaleString('en-US');
    expect(output.startsWith(`[… ${cut} earlier characters cut]\n`)).toBe(true);
    expect(output.endsWith('xEND')).toBe(true);
    expect(output.length).toBeLessThan(MAX_OUTPUT_CHARS + 100);
  });

  it('caps the evidence of an item re-run again and again, keeping the first entry and counting what it dropped', async () => {
    rig = new Rig();
    await rig.start();
    await rig.runChecks('pre/tests');
    const reruns = 30;
    for (let i = 0; i < reruns; i++) {
      rig.clock.advance(1000);
      await rig.runner.rerun(rig.release, 'pre/tests', as('ci'));
      await rig.runChecks('pre/tests');
    }
    const { evidence } = await rig.item('pre/tests');
    // Each run adds a result, each re-run its request.
    const written = 1 + reruns * 2;
    expect(evidence).toHaveLength(MAX_EVIDENCE_ENTRIES);
    expect(evidence[0]).toMatchObject({ summary: 'exit 1', at: evidence[0]!.at });
    expect(droppedBy(evidence[1]!)).toBe(written - (MAX_EVIDENCE_ENTRIES - 1));
    expect(evidence[1]!.summary).toBe(
      `${written - (MAX_EVIDENCE_ENTRIES - 1)} earlier evidence entries dropped: an item keeps its first and its newest ${MAX_EVIDENCE_ENTRIES - 2}`,
    );
    expect(evidence.at(-1)).toMatchObject({ summary: 'exit 1', at: rig.clock.now() });
    expect(evidence.at(-2)).toMatchObject({ summary: 're-run asked by ci', by: 'ci' });
    // Still in time order, the marker included.
    const times = evidence.map((e) => e.at);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it('refuses to sign or waive an item twice, saying who settled it and when', async () => {
    rig = new Rig();
    await rig.start();
    await rig.runner.sign(rig.release, 'pre/plan', as('alice'), 'runbook 12');
    const again = rig.runner.sign(rig.release, 'plan', as('bob'), undefined);
    await expect(again).rejects.toThrow(ConflictError);
    await expect(again).rejects.toThrow(
      '"pre/plan" was already signed by alice at 2023-11-14T22:13:20Z ("runbook 12"); nothing to do',
    );
    await rig.runChecks('pre/tests');
    await rig.runner.waive(rig.release, 'pre/tests', as('bob'), 'flaky, ticket 7');
    await expect(rig.runner.waive(rig.release, 'pre/tests', as('carol'), 'again')).rejects.toThrow(
      '"pre/tests" was already waived by bob at 2023-11-14T22:13:20Z ("flaky, ticket 7"); nothing to waive',
    );
    // A long reason is quoted back on one line, shortened.
    await rig.runner.waive(rig.release, 'verify/look', as('bob'), `${'long '.repeat(100)}\nstory`);
    const long = await rig.runner
      .waive(rig.release, 'verify/look', as('bob'), 'x')
      .catch((err: Error) => err);
    expect((long as Error).message).toMatch(
      /^"verify\/look" was already waived by bob at \S+ \("long long [a-z ]+…"\); nothing to waive$/,
    );
    expect((long as Error).message.length).toBeLessThan(200);
    expect((await rig.item('pre/plan')).evidence).toHaveLength(1);
    expect((await rig.item('pre/tests')).evidence).toHaveLength(2);
  });

  it('signs what is left at the current gate in one go, and says when nothing is', async () => {
    rig = new Rig();
    await rig.start();
    const result = await rig.runner.signGate(rig.release, as('dana'), 'CAB-7');
    expect(result.gate).toBe('pre-deploy');
    expect(result.signed.map((i) => [i.id, i.state, i.evidence[0]?.note])).toEqual([
      ['pre/plan', 'passed', 'CAB-7'],
    ]);
    expect(rig.changed).toContain('pre/plan: passed');
    // The failed check is not signed: it needs a re-run or a waiver, and the message says so.
    await rig.runChecks('pre/tests');
    await expect(rig.runner.signGate(rig.release, as('dana'), undefined)).rejects.toThrow(
      'nothing left to sign at the pre-deploy gate of release #1; it waits on pre/tests (failed)',
    );
    const between = { ...rig.release, phase: 'starting' as const };
    await expect(rig.runner.signGate(between, as('dana'), undefined)).rejects.toThrow(
      'release #1 is at no gate (phase starting); nothing to sign until it reaches one',
    );
  });

  it("lets only a member of the item's role sign it, and waives only at the current or a later gate of an active release", async () => {
    rig = new Rig();
    await rig.start();
    const verifying = { ...rig.release, phase: 'verify' as const };
    const outsider = rig.runner.sign(verifying, 'verify/look', { name: 'eve', groups: ['dev'] }, undefined);
    await expect(outsider).rejects.toThrow(ForbiddenError);
    await expect(outsider).rejects.toThrow('"verify/look" is signed by the sre role; eve is not in it');
    const signed = await rig.runner.sign(
      verifying,
      'verify/look',
      { name: 'sam', groups: ['sre'] },
      undefined,
    );
    expect(signed.state).toBe('passed');
    expect(signed.evidence.at(-1)).toMatchObject({ by: 'sam', summary: 'signed by sam' });

    await expect(rig.runner.waive(verifying, 'pre/plan', as('ann'), 'too late')).rejects.toThrow(
      '"pre/plan" belongs to the pre-deploy gate, which release #1 has passed (it is at verify)',
    );
    const ended = { ...rig.release, state: 'succeeded' as const, phase: 'completed' as const };
    await expect(rig.runner.waive(ended, 'pre/tests', as('ann'), 'after the fact')).rejects.toThrow(
      'no longer checks (it ended succeeded)',
    );
    // Ahead of the release, a waiver is taken.
    expect((await rig.runner.waive(rig.release, 'pre/tests', as('ann'), 'flaky, ticket 9')).state).toBe(
      'waived',
    );
  });
});
