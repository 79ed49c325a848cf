/** On-call schedules and escalation policies of the installation. */
import { z } from 'zod';

/** Schedules (layers, rotations, overrides) and escalation policies. */
export const oncallSchema = z
  .strictObject({})
  .prefault({})
  .describe('On-call schedules and escalation policies of the whole installation.');

export type OnCallConfig = z.output<typeof oncallSchema>;
