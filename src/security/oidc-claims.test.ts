import { describe, expect, it } from 'vitest';
import { claimAt, mapClaims, OIDC_REFUSAL, type ClaimMappingConfig } from './oidc-claims.js';

const config: ClaimMappingConfig = {
  roleClaim: 'groups',
  roles: {
    platform: 'admin',
    'release-manager': ['approver@production', 'deployer'],
    sre: 'deployer@production',
    interns: 'viewer@staging',
  },
  groupsClaim: 'groups',
  unmapped: 'refuse',
};

describe('mapClaims', () => {
  it('maps a claim holding one string', () => {
    expect(mapClaims({ sub: 'u1', groups: 'platform' }, config)).toEqual({
      grants: [{ environment: '*', role: 'admin' }],
      groups: ['platform'],
    });
  });

  it('maps every listed value of a list claim, ignoring unlisted values and non-strings', () => {
    expect(mapClaims({ groups: ['sre', 'release-manager', 'chess-club', 7] }, config)).toEqual({
      grants: [
        { environment: '*', role: 'deployer' },
        { environment: 'production', role: 'approver' },
      ],
      groups: ['chess-club', 'release-manager', 'sre'],
    });
  });

  it('keeps the strongest role when two values grant the same environment', () => {
    const mapping = mapClaims({ groups: ['sre', 'release-manager'] }, { ...config, groupsClaim: undefined });
    expect(mapping).toEqual({
      grants: [
        { environment: '*', role: 'deployer' },
        { environment: 'production', role: 'approver' },
      ],
      groups: [],
    });
  });

  it('follows a dotted path into an object claim', () => {
    const claims = { realm_access: { roles: ['sre'] }, team: { names: ['payments'] } };
    expect(
      mapClaims(claims, { ...config, roleClaim: 'realm_access.roles', groupsClaim: 'team.names' }),
    ).toEqual({
      grants: [{ environment: 'production', role: 'deployer' }],
      groups: ['payments'],
    });
  });

  it('reads a claim whose own name holds dots before walking a path', () => {
    const claims = { 'https://example.com/roles': ['platform'] };
    expect(mapClaims(claims, { ...config, roleClaim: 'https://example.com/roles' })).toMatchObject({
      grants: [{ environment: '*', role: 'admin' }],
    });
  });

  it('refuses an unknown value when unmapped is refuse, naming the claim but not its value', () => {
    const refusal = mapClaims({ groups: ['chess-club'] }, config);
    expect(refusal).toEqual({
      refused: OIDC_REFUSAL.unmappedClaim,
      message: expect.stringContaining('groups claim'),
    });
    expect(JSON.stringify(refusal)).not.toContain('chess-club');
  });

  it('gives viewer everywhere for an unknown value when unmapped is viewer, keeping the groups', () => {
    expect(mapClaims({ groups: ['chess-club'] }, { ...config, unmapped: 'viewer' })).toEqual({
      grants: [{ environment: '*', role: 'viewer' }],
      groups: ['chess-club'],
    });
  });

  it('treats a missing claim, or one that holds no strings, as unmapped', () => {
    for (const claims of [{ sub: 'u1' }, { groups: [] }, { groups: { sre: true } }, { groups: null }]) {
      expect(mapClaims(claims, config)).toMatchObject({ refused: OIDC_REFUSAL.unmappedClaim });
      expect(mapClaims(claims, { ...config, unmapped: 'viewer' })).toMatchObject({
        grants: [{ environment: '*', role: 'viewer' }],
      });
    }
    expect(mapClaims({ sub: 'u1' }, config)).toMatchObject({
      message: expect.stringContaining('no groups claim'),
    });
  });

  it('does not take inherited object keys for claim values', () => {
    expect(mapClaims({ groups: ['constructor', 'toString'] }, config)).toMatchObject({
      refused: OIDC_REFUSAL.unmappedClaim,
    });
    expect(claimAt({ a: {} }, 'a.constructor')).toBeUndefined();
  });
});
