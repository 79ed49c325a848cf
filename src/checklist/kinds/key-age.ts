import { z } from 'zod';
import { duration } from '../../config/schema.js';
import { formatDuration } from '../../util/duration.js';
import type { CheckKind, CheckResult } from '../types.js';

/** Used when neither the item nor `security.keyMaxAge` says. */
const DEFAULT_MAX_AGE_MS = 90 * 24 * 3_600_000;
const DAY_MS = 24 * 3_600_000;

const keyAgeParamsSchema = z.strictObject({
  maxAge: duration
    .optional()
    .describe('The master key must be younger than this; security.keyMaxAge (default 90d) when absent.'),
});

/** Validated `key-age` params; maxAge in ms. */
export type KeyAgeParams = z.output<typeof keyAgeParamsSchema>;

/**
 * `key-age`: the seed's key rotation schedule. The master key that seals shipcheck's secrets must be
 * younger than maxAge; `shipcheck keys rotate` makes a new one. A key given in SHIPCHECK_MASTER_KEY
 * has no recorded age: the item is then inconclusive, for a person to sign.
 */
export const keyAgeCheck: CheckKind<KeyAgeParams> = {
  kind: 'key-age',
  params: keyAgeParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const maxAge = params.maxAge ?? context.config.security?.keyMaxAge ?? DEFAULT_MAX_AGE_MS;
    const key = context.masterKey?.();
    if (key === undefined)
      return { ok: false, inconclusive: true, summary: 'this control plane keeps no master key' };
    const max = maxAge >= DAY_MS ? `${Number((maxAge / DAY_MS).toFixed(1))} days` : formatDuration(maxAge);
    if (key.ageMs === undefined)
      return {
        ok: false,
        inconclusive: true,
        summary: `the master key ${key.id} comes from ${key.origin}, which records no age; sign once it was rotated within ${max}`,
        data: { id: key.id, origin: key.origin },
      };
    const days = key.ageMs / DAY_MS;
    const ok = key.ageMs < maxAge;
    return {
      ok,
      summary: `the master key ${key.id} is ${days.toFixed(1)} days old (max ${max})${ok ? '' : '; run "shipcheck keys rotate"'}`,
      value: Number(days.toFixed(2)),
      data: { id: key.id, origin: key.origin },
    };
  },
};
