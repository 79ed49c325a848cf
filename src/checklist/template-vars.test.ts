import { describe, expect, it } from 'vitest';
import { fillVars, hasPlaceholder, hasVar, placeholderNames } from './template-vars.js';

describe('{{vars.NAME}} placeholders', () => {
  it('are found anywhere in a value, in order, once each, with spaces inside the braces', () => {
    const params = {
      url: '{{vars.healthPath}}',
      headers: { Authorization: 'Bearer {{ vars.token }}', 'X-Journey': '{{name}}' },
      steps: [{ path: '{{vars.healthPath}}?from={{vars.region}}' }],
      timeout: 5,
    };
    expect(placeholderNames(params)).toEqual(['healthPath', 'token', 'region']);
    expect(hasPlaceholder(params)).toBe(true);
    expect(hasPlaceholder({ url: '/healthz', capture: '{{name}}' })).toBe(false);
  });

  it('are filled in deeply; a list entry that is one placeholder takes the comma-separated values', () => {
    const params = {
      url: '{{vars.healthPath}}',
      headers: { Authorization: 'Bearer {{ vars.token }}', 'X-Journey': '{{name}}' },
      required: ['PORT', '{{vars.requiredEnv}}', 'prefix-{{vars.requiredEnv}}'],
      timeout: 5,
    };
    const vars = { healthPath: '/healthz', token: 's3cret', requiredEnv: 'A, B,' };
    expect(fillVars(params, vars)).toEqual({
      url: '/healthz',
      headers: { Authorization: 'Bearer s3cret', 'X-Journey': '{{name}}' },
      required: ['PORT', 'A', 'B', 'prefix-A, B,'],
      timeout: 5,
    });
    expect(params.url).toBe('{{vars.healthPath}}');
  });

  it('stay as written for a var that is missing or empty', () => {
    expect(fillVars({ url: '{{vars.healthPath}}', list: ['{{vars.list}}'] }, { list: '  ' })).toEqual({
      url: '{{vars.healthPath}}',
      list: ['{{vars.list}}'],
    });
    expect(hasVar({ a: 'x', b: ' ' }, 'a')).toBe(true);
    expect(hasVar({ a: 'x', b: ' ' }, 'b')).toBe(false);
    expect(hasVar({}, 'toString')).toBe(false);
  });
});
