import { describe, expect, it } from 'vitest';
import { manualCheck } from './manual.js';
import { contextFor } from '../../../test/support/check-context.js';

describe('manual check', () => {
  it('takes an optional role and hint', () => {
    expect(manualCheck.params.parse({})).toEqual({});
    expect(manualCheck.params.parse({ role: 'release-manager', hint: 'Read the runbook' })).toEqual({
      role: 'release-manager',
      hint: 'Read the runbook',
    });
  });

  it('rejects unknown params and an empty role', () => {
    expect(manualCheck.params.safeParse({ owner: 'x' }).success).toBe(false);
    expect(manualCheck.params.safeParse({ role: '' }).success).toBe(false);
  });

  it('fails if it is ever run, saying why', async () => {
    const result = await manualCheck.run({ role: 'release-manager' }, contextFor());
    expect(result).toEqual({ ok: false, summary: 'manual items are signed, not run' });
  });
});
