import type { Config, StepConfig } from '../config/schema.js';
import { formatDuration } from '../util/duration.js';

/**
 * Instances a canary needs at `weight`: its share of the stable count in force (`stable`, which
 * `scale` and the autoscaler change), never fewer than `canaryInstances` nor more than `stable`.
 */
export function canaryCount(config: Config, stable: number, weight: number): number {
  const share = Math.ceil((stable * weight) / 100);
  return Math.min(stable, Math.max(config.fleet.canaryInstances, share));
}

/** A step as the user wrote it: `setWeight 10`, `pause 30s`, `pause until promoted`. */
export function describeStep(step: StepConfig): string {
  if ('setWeight' in step) return `setWeight ${step.setWeight}`;
  return typeof step.pause === 'number' ? `pause ${formatDuration(step.pause)}` : 'pause until promoted';
}

/** True for `{pause: {}}`, which waits for `promote` or `resume`. */
export function isIndefinitePause(step: StepConfig | undefined): boolean {
  return step !== undefined && 'pause' in step && typeof step.pause !== 'number';
}
