import { describe, expect, it } from 'vitest';
import { formatCommaList, parseCommaList } from './comma-list.js';

describe('parseCommaList', () => {
  it('trims the items and drops blanks and repeats', () => {
    expect(parseCommaList(' deployer@staging, viewer ,,sre, viewer')).toEqual([
      'deployer@staging',
      'viewer',
      'sre',
    ]);
  });
  it('reads empty or blank text as no items', () => {
    expect(parseCommaList('')).toEqual([]);
    expect(parseCommaList(' , ')).toEqual([]);
  });
  it('reads back what formatCommaList writes', () => {
    const roles = ['approver@production', 'deployer'];
    expect(parseCommaList(formatCommaList(roles))).toEqual(roles);
  });
});
