/**
 * The demo's scaling part: under the demo's steady load, the stable version is scaled up by hand and
 * back down (drained on the way down), and the capacity report says what the load samples allow.
 */
import { z } from 'zod';
import type { ApiShape } from '../api-shapes.js';
import type { ApiClient } from '../client.js';
import type { Io } from '../target.js';
import { describeCapacity } from './scale.js';
import type { CapacityReport } from '../../scaling/capacity.js';

/** How long the demo waits for the fleet to reach a count. */
const WAIT_MS = 20_000;
const POLL_MS = 200;

const statusShape: ApiShape<{ versions: { stable: { instances: { state: string }[] } | null } }> = {
  what: 'the status',
  schema: z.looseObject({
    versions: z.looseObject({
      stable: z.looseObject({ instances: z.array(z.looseObject({ state: z.string() })) }).nullable(),
    }),
  }),
};
const scaleShape: ApiShape<{ instances: number; previous?: number }> = {
  what: 'the instance count',
  schema: z.looseObject({ instances: z.number() }),
};
const capacityShape: ApiShape<CapacityReport> = {
  what: 'the capacity report',
  schema: z.looseObject({ enough: z.boolean(), notes: z.array(z.string()) }),
};

/** Whether the stable version comes to exactly `count` instances, all ready, within WAIT_MS. */
async function settled(client: ApiClient, unit: string, count: number): Promise<boolean> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const status = await client.get(`/api/v1/services/${unit}`, statusShape);
    const instances = status.versions.stable?.instances ?? [];
    if (instances.length === count && instances.every((i) => i.state === 'ready')) return true;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return false;
}

/** Scales `unit` from `from` to `from + 1` and back, checking the fleet follows, then prints its capacity report. */
export async function showScaling(
  client: ApiClient,
  unit: string,
  from: number,
  expect: (ok: boolean, what: string) => void,
  io: Io,
): Promise<void> {
  io.out('');
  io.out('== scaling the stable version by hand, under load (shipcheck scale N)');
  const up = await client.post(
    `/api/v1/services/${unit}/scale`,
    { instances: from + 1, reason: 'demo' },
    scaleShape,
  );
  expect(
    up.instances === from + 1 && (await settled(client, unit, from + 1)),
    `scaled up: ${from} -> ${from + 1} stable instances, all ready`,
  );
  await client.post(`/api/v1/services/${unit}/scale`, { instances: from, reason: 'demo' }, scaleShape);
  expect(
    await settled(client, unit, from),
    `scaled back down under load: ${from + 1} -> ${from} stable instances`,
  );
  const report = await client.get(`/api/v1/services/${unit}/capacity?rate=100`, capacityShape);
  for (const line of describeCapacity(unit, report)) io.out(`       ${line}`);
}
