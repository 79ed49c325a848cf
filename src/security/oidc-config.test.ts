import { describe, expect, it } from 'vitest';
import { isLoopbackHost, oidcDisplayName, oidcSchema, parseRoleSpec } from './oidc-config.js';

const minimal = {
  issuer: 'https://login.example.com/realms/ops',
  clientId: 'shipcheck',
  clientSecretEnv: 'OIDC_SECRET',
};

/** The messages zod gives for `input`, or none when it is valid. */
function problems(input: unknown): string[] {
  const result = oidcSchema.safeParse(input);
  return result.success
    ? []
    : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('oidcSchema', () => {
  it('fills in the defaults', () => {
    expect(oidcSchema.parse(minimal)).toEqual({
      ...minimal,
      roleClaim: 'groups',
      roles: {},
      unmapped: 'refuse',
      scopes: ['openid', 'profile', 'email'],
    });
  });

  it('takes roles for every environment, for one, or a list of both', () => {
    const roles = {
      platform: 'admin',
      sre: 'deployer@production',
      release: ['approver@production', 'deployer'],
    };
    expect(oidcSchema.parse({ ...minimal, roles }).roles).toEqual(roles);
  });

  it('refuses an unknown role, a bad environment, a secret in the file and a plain-http issuer off loopback', () => {
    expect(problems({ ...minimal, roles: { sre: 'root' } })).toEqual([
      expect.stringMatching(/^roles\.sre: expected a role \(viewer, deployer, approver, admin\)/),
    ]);
    expect(problems({ ...minimal, roles: { sre: 'deployer@Prod' } })).toHaveLength(1);
    expect(problems({ ...minimal, clientSecret: 'hunter2' })).toEqual([
      expect.stringContaining('clientSecret'),
    ]);
    expect(problems({ ...minimal, clientSecretEnv: 'not a name' })).toEqual([
      'clientSecretEnv: expected an environment variable name',
    ]);
    expect(problems({ ...minimal, issuer: 'http://login.example.com' })).toEqual([
      expect.stringContaining('issuer: an issuer uses https'),
    ]);
    expect(problems({ ...minimal, issuer: 'http://127.0.0.1:9000' })).toEqual([]);
    expect(problems({ ...minimal, scopes: ['profile'] })).toEqual(['scopes: the scopes include openid']);
  });
});

describe("the provider's name on the sign-in button", () => {
  it("is the configured name, else the issuer's host", () => {
    expect(oidcDisplayName(oidcSchema.parse({ ...minimal, name: 'Okta' }))).toBe('Okta');
    expect(oidcDisplayName(oidcSchema.parse(minimal))).toBe('login.example.com');
    expect(oidcDisplayName(oidcSchema.parse({ ...minimal, issuer: 'http://127.0.0.1:9000/x' }))).toBe(
      '127.0.0.1:9000',
    );
  });

  it('refuses a blank name and one too long for a button', () => {
    expect(problems({ ...minimal, name: '  ' })).toEqual([
      'name: expected the name people know the provider by, e.g. Okta',
    ]);
    expect(problems({ ...minimal, name: 'x'.repeat(61) })).toEqual([
      'name: at most 60 characters: it is a button label',
    ]);
  });
});

describe('parseRoleSpec', () => {
  it('reads a role alone as every environment and role@environment as one', () => {
    expect(parseRoleSpec('admin')).toEqual({ role: 'admin', environment: '*' });
    expect(parseRoleSpec('deployer@staging')).toEqual({ role: 'deployer', environment: 'staging' });
    expect(parseRoleSpec('owner')).toBeUndefined();
  });
});

describe('isLoopbackHost', () => {
  it('knows this machine from others', () => {
    expect(['localhost', '127.0.0.1', '127.1.2.3', '[::1]'].every(isLoopbackHost)).toBe(true);
    expect(['10.0.0.1', 'example.com', '127.0.0.1.example.com', '[::2]'].some(isLoopbackHost)).toBe(false);
  });
});
