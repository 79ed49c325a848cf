/**
 * Time-based one-time passwords (RFC 6238) as every authenticator app speaks them: SHA-1, 6 digits,
 * a 30-second step counted from the Unix epoch, and a base32 secret of 160 bits (RFC 4226's
 * recommended length). The one-time-password arithmetic and the constant-time comparison are
 * otplib's; this module fixes the parameters, takes an injected clock, and adds what a login needs:
 * a window of one step either side for clock drift and a refusal of any code whose step is not newer
 * than the last one accepted, so a code seen over a shoulder or in a log cannot be used again.
 */
import { generateSecret, generateSync, verifySync } from 'otplib';
import QRCode from 'qrcode';
import { InputError } from '../errors.js';

/** Seconds in one TOTP step. */
export const TOTP_PERIOD_SECONDS = 30;
/** Digits in a code. */
export const TOTP_DIGITS = 6;
/** The HMAC hash, as the otpauth URI spells it. */
export const TOTP_ALGORITHM = 'SHA1';
/** Steps either side of the current one whose codes are still accepted, for drift between clocks. */
export const TOTP_WINDOW_STEPS = 1;
/** Random bytes in a new secret: 160 bits, the length of a SHA-1 HMAC key RFC 4226 recommends. */
export const TOTP_SECRET_BYTES = 20;
/** The issuer shown in authenticator apps when the caller names none. */
export const DEFAULT_TOTP_ISSUER = 'shipcheck';

/** The window in otplib's terms: seconds either side of now, one step each way. */
const TOLERANCE = TOTP_WINDOW_STEPS * TOTP_PERIOD_SECONDS;
/** What a code must look like once spaces are taken out (apps show `123 456`). */
const CODE_SHAPE = new RegExp(`^\\d{${TOTP_DIGITS}}$`);

/** A new TOTP secret: 160 random bits, base32 (RFC 4648, upper case, no padding: 32 characters). */
export function generateTotpSecret(): string {
  return generateSecret({ length: TOTP_SECRET_BYTES });
}

/** Who an otpauth URI is for and who issues it. */
export interface OtpauthUriOptions {
  /** The base32 secret from generateTotpSecret. */
  secret: string;
  /** The account as the app lists it, e.g. the user's email or login name. */
  account: string;
  /** The service as the app lists it; `shipcheck` when absent. */
  issuer?: string;
}

/**
 * The Key URI an authenticator app scans:
 * `otpauth://totp/<Issuer>:<account>?secret=<base32>&issuer=<Issuer>&algorithm=SHA1&digits=6&period=30`,
 * the label's parts percent-encoded. All parameters are written out, defaults included, because
 * some apps guess wrong when they are missing. A colon in the issuer or the account is refused: the
 * label format uses it to separate the two.
 */
export function otpauthUri({ secret, account, issuer = DEFAULT_TOTP_ISSUER }: OtpauthUriOptions): string {
  for (const [what, value] of [
    ['issuer', issuer],
    ['account', account],
  ] as const) {
    if (value === '') throw new InputError(`TOTP ${what} is empty`);
    if (value.includes(':'))
      throw new InputError(`TOTP ${what} "${value}" contains ':', which separates issuer and account`);
  }
  const query = new URLSearchParams({
    secret,
    issuer,
    algorithm: TOTP_ALGORITHM,
    digits: String(TOTP_DIGITS),
    period: String(TOTP_PERIOD_SECONDS),
  });
  return `otpauth://totp/${encodeURIComponent(issuer)}:${encodeURIComponent(account)}?${query.toString()}`;
}

/** A QR code of `uri` as a standalone SVG document, made locally: the secret never leaves the process. */
export async function qrCodeSvg(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}

/** The TOTP step (30-second interval since the epoch) that time `now` (epoch ms) falls in. */
export function totpStep(now: number): number {
  return Math.floor(now / 1000 / TOTP_PERIOD_SECONDS);
}

/**
 * The code an authenticator app shows at `now` (epoch ms) for `secret` (base32). For enrolment
 * checks and tests; a login calls verifyTotp.
 */
export function totpCode({ secret, now }: { secret: string; now: number }): string {
  const epoch = epochSeconds(now);
  return withSecret(() => generateSync({ ...otplibParams(secret), epoch }));
}

/** Why a code was refused: not six digits, not a code of the window, or a step already used. */
export type TotpRefusal = 'malformed' | 'wrong' | 'replayed';

/** The answer to a code: the step it belongs to when accepted (store it as the next lastStep). */
export type TotpVerdict = { ok: true; step: number } | { ok: false; why: TotpRefusal };

/** A code to check, against which secret, when, and after which accepted step. */
export interface VerifyTotpOptions {
  /** The user's base32 secret. */
  secret: string;
  /** What the user typed; spaces are ignored. */
  code: string;
  /** The current time, epoch ms. */
  now: number;
  /** The step of the last code accepted for this secret; absent or null when none was. */
  lastStep?: number | null;
}

/**
 * Checks a code typed at `now`. The codes of the current step and of one step either side are
 * accepted; a code whose step is at or before `lastStep` is refused as `replayed`, so each code
 * works once and an older one never does after a newer one. On success the caller must store the
 * returned `step` as the new lastStep before answering, or the same code could be used twice.
 * Codes are compared in constant time.
 */
export function verifyTotp({ secret, code, now, lastStep }: VerifyTotpOptions): TotpVerdict {
  const token = code.replace(/\s+/g, '');
  if (!CODE_SHAPE.test(token)) return { ok: false, why: 'malformed' };
  const epoch = epochSeconds(now);
  const after = afterTimeStep(lastStep, now);
  const check = (afterStep: number | undefined) =>
    withSecret(() =>
      verifySync({
        ...otplibParams(secret),
        token,
        epoch,
        epochTolerance: TOLERANCE,
        afterTimeStep: afterStep,
      }),
    );
  const checked = check(after);
  // otplib's types cover HOTP too, whose result has no timeStep; delta is the same answer for TOTP.
  if (checked.valid) return { ok: true, step: totpStep(now) + checked.delta };
  if (after === undefined) return { ok: false, why: 'wrong' };
  // Only now look at the steps already used, to tell a replay from a wrong code.
  return { ok: false, why: check(undefined).valid ? 'replayed' : 'wrong' };
}

function otplibParams(secret: string) {
  return {
    secret,
    algorithm: 'sha1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  } as const;
}

/**
 * Runs an otplib call, whose only failure left once time and lastStep are checked is a secret that
 * is not base32 of at least 128 bits. Its message is kept out of ours: it can quote the secret.
 */
function withSecret<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw new InputError('the TOTP secret is not a base32 secret of at least 128 bits', { cause: err });
  }
}

function epochSeconds(now: number): number {
  if (!Number.isFinite(now) || now < 0)
    throw new InputError(`TOTP time ${now} is not a time after 1970 in ms`);
  return Math.floor(now / 1000);
}

/**
 * `lastStep` as otplib's `afterTimeStep`. otplib throws when it lies past the newest step of the
 * window; every code of the window is then already used, which capping at that step says too.
 */
function afterTimeStep(lastStep: number | null | undefined, now: number): number | undefined {
  if (lastStep === undefined || lastStep === null) return undefined;
  if (!Number.isSafeInteger(lastStep) || lastStep < 0) {
    throw new InputError(`TOTP lastStep ${lastStep} is not a step returned by verifyTotp`);
  }
  return Math.min(lastStep, totpStep(now) + TOTP_WINDOW_STEPS);
}
