import { describe, expect, it } from 'vitest';
import { isRoleGrant, tokenRoleChoices } from './token-roles.js';

describe('tokenRoleChoices', () => {
  it('offers a role for every environment and every role below it', () => {
    expect(tokenRoleChoices(['deployer'])).toEqual(['deployer', 'viewer']);
    expect(tokenRoleChoices(['admin'])).toEqual(['admin', 'approver', 'deployer', 'viewer']);
  });
  it('keeps an environment grant in its environment', () => {
    expect(tokenRoleChoices(['approver@production', 'deployer'])).toEqual([
      'deployer',
      'viewer',
      'approver@production',
      'deployer@production',
      'viewer@production',
    ]);
  });
  it('offers each role once and ignores roles it does not know', () => {
    expect(tokenRoleChoices(['viewer', 'deployer', 'owner'])).toEqual(['deployer', 'viewer']);
    expect(tokenRoleChoices([])).toEqual([]);
  });
});

describe('isRoleGrant', () => {
  it('takes a role alone or in an environment', () => {
    expect(isRoleGrant('deployer')).toBe(true);
    expect(isRoleGrant('approver@production')).toBe(true);
  });
  it('refuses unknown roles and empty environments', () => {
    expect(isRoleGrant('owner')).toBe(false);
    expect(isRoleGrant('deployer@')).toBe(false);
    expect(isRoleGrant('deployer@-x')).toBe(false);
  });
});
