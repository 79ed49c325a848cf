/**
 * The demo's baseline part: v2 carries a deliberate 40 ms slowdown (SAMPLE_FAULTS `latencyMs`), far
 * under the 2 s p99 trigger, so it is promoted; its baseline against v1's then shows the p99 beyond
 * tolerance, on `baseline compare v1 v2` and on v2's Response times item.
 */
import { z } from 'zod';
import type { BaselineComparison } from '../../baseline/compare.js';
import type { BaselineRow } from '../../store/baseline-store.js';
import { checklistShape } from '../api-shapes.js';
import type { ApiShape } from '../api-shapes.js';
import type { ApiClient } from '../client.js';
import type { Io } from '../target.js';
import { comparisonLines } from './baseline.js';

/** The config lines the demo adds: a short bake (the window) and the noise rules for its traffic. */
export const DEMO_BASELINE_CONFIG = `baseline:
  minWindow: 7s
  minRequests: 250
`;
/** v2's SAMPLE_FAULTS entry: slower, never failing. */
export const DEMO_SLOW_V2 = '"v2": {"latencyMs": 40}';
/** How long the demo waits at most for a baseline to close. */
const WAIT_MS = 15_000;
const POLL_MS = 250;

const row = z.looseObject({ releaseId: z.number(), version: z.string(), state: z.string() });
const viewShape: ApiShape<{ baseline: BaselineRow | null }> = {
  what: 'a baseline',
  schema: z.looseObject({ baseline: row.nullable() }),
};
const compareShape: ApiShape<{ a: BaselineRow; b: BaselineRow; comparison: BaselineComparison }> = {
  what: 'a baseline comparison',
  schema: z.looseObject({ a: row, b: row, comparison: z.looseObject({ verdict: z.string() }) }),
};

/** Waits until a release's baseline window has closed (v1's runs a few seconds past its success). */
export async function waitForBaseline(client: ApiClient, releaseId: number): Promise<BaselineRow | null> {
  const until = Date.now() + WAIT_MS;
  for (;;) {
    const { baseline } = await client.get(`/api/v1/releases/${releaseId}/baseline`, viewShape);
    if ((baseline && baseline.state !== 'recording') || Date.now() > until) return baseline;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** `baseline compare v1 v2`, printed as the CLI prints it, and what it must show. */
export async function showBaselineRegression(
  client: ApiClient,
  goodId: number,
  io: Io,
  expect: (ok: boolean, what: string) => void,
): Promise<void> {
  await waitForBaseline(client, goodId);
  io.out('');
  io.out('== shipcheck baseline compare v1 v2');
  const { a, b, comparison } = await client.get(
    '/api/v1/services/demo/baselines/compare?a=v1&b=v2',
    compareShape,
  );
  comparisonLines(a, b, comparison).forEach((line) => io.out(line ? `  ${line}` : ''));
  const p99 = comparison.figures.find((f) => f.figure === 'latencyP99');
  expect(
    comparison.comparable && p99?.verdict === 'regressed',
    `v2's deliberate 40 ms slowdown is caught: ${p99?.reason ?? 'no p99'}`,
  );
  const checklist = await client.get(`/api/v1/releases/${goodId}/checklist`, checklistShape);
  const item = checklist.items.find((i) => i.id === 'performance/baseline-metrics/response-times');
  expect(
    item?.state === 'failed',
    `v2's "Response times" item failed with both figures: ${item?.evidence.at(-1)?.summary ?? 'no item'}`,
  );
}
