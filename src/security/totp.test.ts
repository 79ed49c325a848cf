import { generateSync, stringToBytes, type HashAlgorithm } from 'otplib';
import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.js';
import {
  TOTP_PERIOD_SECONDS,
  generateTotpSecret,
  otpauthUri,
  qrCodeSvg,
  totpCode,
  totpStep,
  verifyTotp,
} from './totp.js';

/** RFC 6238 Appendix B: the seeds are these ASCII strings, 20, 32 and 64 bytes long. */
const RFC_SEEDS: Record<HashAlgorithm, string> = {
  sha1: '12345678901234567890',
  sha256: '12345678901234567890123456789012',
  sha512: '1234567890123456789012345678901234567890123456789012345678901234',
};

/** RFC 6238 Appendix B: Unix time (s) and the 8-digit codes for SHA1, SHA256 and SHA512. */
const RFC_VECTORS: [number, string, string, string][] = [
  [59, '94287082', '46119246', '90693936'],
  [1111111109, '07081804', '68084774', '25091201'],
  [1111111111, '14050471', '67062674', '99943326'],
  [1234567890, '89005924', '91819424', '93441116'],
  [2000000000, '69279037', '90698825', '38618901'],
  [20000000000, '65353130', '77737706', '47863826'],
];

/** The SHA1 seed in base32, the form verifyTotp and authenticator apps take. */
const RFC_SHA1_SECRET_BASE32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

const STEP_MS = TOTP_PERIOD_SECONDS * 1000;
/** A moment in the middle of a step, so ±1 step never crosses a boundary by rounding. */
const NOW = 1_700_000_015_000;

describe('RFC 6238 test vectors', () => {
  it.each(RFC_VECTORS)(
    'at %i s otplib gives the published codes for SHA1, SHA256 and SHA512',
    (time, sha1, sha256, sha512) => {
      const expected: Record<HashAlgorithm, string> = { sha1, sha256, sha512 };
      for (const algorithm of ['sha1', 'sha256', 'sha512'] as const) {
        const code = generateSync({
          secret: stringToBytes(RFC_SEEDS[algorithm]),
          algorithm,
          digits: 8,
          period: 30,
          epoch: time,
        });
        expect(code, algorithm).toBe(expected[algorithm]);
      }
    },
  );

  it.each(RFC_VECTORS)(
    'at %i s shipcheck gives and accepts the last six digits of the SHA1 code',
    (time, sha1) => {
      const now = time * 1000;
      const code = sha1.slice(-6);
      expect(totpCode({ secret: RFC_SHA1_SECRET_BASE32, now })).toBe(code);
      expect(verifyTotp({ secret: RFC_SHA1_SECRET_BASE32, code, now })).toEqual({
        ok: true,
        step: Math.floor(time / 30),
      });
    },
  );
});

describe('generateTotpSecret', () => {
  it('makes 160-bit base32 secrets, a new one each time', () => {
    const a = generateTotpSecret();
    const b = generateTotpSecret();
    expect(a).toMatch(/^[A-Z2-7]{32}$/);
    expect(b).toMatch(/^[A-Z2-7]{32}$/);
    expect(a).not.toBe(b);
  });
});

describe('verifyTotp', () => {
  // A fixed secret keeps the codes, and so the checks that two codes differ, the same on every run.
  const secret = RFC_SHA1_SECRET_BASE32;
  const codeAt = (steps: number) => totpCode({ secret, now: NOW + steps * STEP_MS });

  it.each([-1, 0, 1])('accepts the code of step %i from now', (steps) => {
    expect(verifyTotp({ secret, code: codeAt(steps), now: NOW })).toEqual({
      ok: true,
      step: totpStep(NOW) + steps,
    });
  });

  it.each([-2, 2])('refuses the code of step %i from now as wrong', (steps) => {
    const code = codeAt(steps);
    // A 6-digit code can coincide with one inside the window; that would not be a refusal to test.
    expect([-1, 0, 1].map(codeAt)).not.toContain(code);
    expect(verifyTotp({ secret, code, now: NOW })).toEqual({ ok: false, why: 'wrong' });
  });

  it('refuses a code of another secret as wrong', () => {
    const other = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
    const code = totpCode({ secret: other, now: NOW });
    expect([-1, 0, 1].map(codeAt)).not.toContain(code);
    expect(verifyTotp({ secret, code, now: NOW })).toEqual({ ok: false, why: 'wrong' });
  });

  it('accepts a code once: the same code again is a replay, within its step and the next', () => {
    const code = codeAt(0);
    const first = verifyTotp({ secret, code, now: NOW });
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    expect(verifyTotp({ secret, code, now: NOW, lastStep: first.step })).toEqual({
      ok: false,
      why: 'replayed',
    });
    expect(verifyTotp({ secret, code, now: NOW + STEP_MS, lastStep: first.step })).toEqual({
      ok: false,
      why: 'replayed',
    });
  });

  it('refuses an older code after a newer one was accepted, and takes the next one', () => {
    const newer = verifyTotp({ secret, code: codeAt(1), now: NOW });
    expect(newer).toEqual({ ok: true, step: totpStep(NOW) + 1 });
    if (!newer.ok) return;
    expect(verifyTotp({ secret, code: codeAt(0), now: NOW, lastStep: newer.step })).toEqual({
      ok: false,
      why: 'replayed',
    });
    expect(verifyTotp({ secret, code: codeAt(-1), now: NOW, lastStep: newer.step })).toEqual({
      ok: false,
      why: 'replayed',
    });
    const later = NOW + 2 * STEP_MS;
    expect(
      verifyTotp({ secret, code: totpCode({ secret, now: later }), now: later, lastStep: newer.step }),
    ).toEqual({
      ok: true,
      step: totpStep(later),
    });
  });

  it('still says wrong, not replayed, for a wrong code when a step was used', () => {
    const code = codeAt(5);
    expect([-1, 0, 1].map(codeAt)).not.toContain(code);
    expect(verifyTotp({ secret, code, now: NOW, lastStep: totpStep(NOW) })).toEqual({
      ok: false,
      why: 'wrong',
    });
  });

  it('refuses every code when the last used step lies ahead of the window (a clock set back)', () => {
    expect(verifyTotp({ secret, code: codeAt(1), now: NOW, lastStep: totpStep(NOW) + 10 })).toEqual({
      ok: false,
      why: 'replayed',
    });
  });

  it.each(['12345', 'abcdef', '', '1234567', '12345a', '１２３４５６'])('refuses %j as malformed', (code) => {
    expect(verifyTotp({ secret, code, now: NOW })).toEqual({ ok: false, why: 'malformed' });
  });

  it('ignores the space apps show in the middle of a code', () => {
    const code = codeAt(0);
    expect(verifyTotp({ secret, code: `${code.slice(0, 3)} ${code.slice(3)}`, now: NOW }).ok).toBe(true);
  });

  it('refuses a secret that is not base32 of at least 128 bits', () => {
    for (const bad of ['', 'not base32!', 'JBSWY3DPEHPK3PXP']) {
      expect(() => verifyTotp({ secret: bad, code: '123456', now: NOW })).toThrow(InputError);
      expect(() => totpCode({ secret: bad, now: NOW })).toThrow(/not a base32 secret of at least 128 bits/);
    }
  });

  it('refuses a lastStep that no verification returned', () => {
    expect(() => verifyTotp({ secret, code: codeAt(0), now: NOW, lastStep: -1 })).toThrow(InputError);
    expect(() => verifyTotp({ secret, code: codeAt(0), now: NOW, lastStep: 1.5 })).toThrow(InputError);
  });
});

describe('otpauthUri', () => {
  it('carries the secret, issuer, account and the parameters apps need', () => {
    const secret = generateTotpSecret();
    const url = new URL(otpauthUri({ secret, account: 'ada@example.com', issuer: 'Acme Deploys' }));
    expect(url.protocol).toBe('otpauth:');
    expect(url.host).toBe('totp');
    expect(decodeURIComponent(url.pathname)).toBe('/Acme Deploys:ada@example.com');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      secret,
      issuer: 'Acme Deploys',
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    });
  });

  it('names shipcheck as the issuer by default', () => {
    const url = new URL(otpauthUri({ secret: RFC_SHA1_SECRET_BASE32, account: 'ada' }));
    expect(url.pathname).toBe('/shipcheck:ada');
    expect(url.searchParams.get('issuer')).toBe('shipcheck');
  });

  it('refuses a colon in the account or the issuer', () => {
    expect(() => otpauthUri({ secret: RFC_SHA1_SECRET_BASE32, account: 'a:b' })).toThrow(
      /account "a:b" contains ':'/,
    );
    expect(() => otpauthUri({ secret: RFC_SHA1_SECRET_BASE32, account: 'ada', issuer: 'x:y' })).toThrow(
      InputError,
    );
  });
});

describe('qrCodeSvg', () => {
  it('draws the URI as an SVG document', async () => {
    const svg = await qrCodeSvg(otpauthUri({ secret: generateTotpSecret(), account: 'ada@example.com' }));
    expect(svg.trimStart()).toMatch(/^<svg[\s>]/);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(svg.trimEnd()).toMatch(/<\/svg>$/);
  });
});
