/**
 * TOTP second factor: enrolment with an otpauth:// URI and a QR code, one-time recovery codes, and
 * verification that never accepts a code twice (the accepted step is taken with a compare-and-set
 * in the store, so two replicas cannot both accept it).
 */
import { ConflictError, InputError } from '../errors.js';
import type { SecurityStore, UserRow } from '../store/security-store.js';
import type { Clock } from '../util/clock.js';
import { generateRecoveryCodes, hashRecoveryCode, matchRecoveryCode } from './recovery-codes.js';
import { type KeyRing, SecretBoxError, open, seal } from './secret-box.js';
import { generateTotpSecret, otpauthUri, qrCodeSvg, verifyTotp } from './totp.js';

/** What a person needs to add shipcheck to an authenticator app. */
export interface Enrolment {
  secret: string;
  uri: string;
  qrSvg: string;
}

/** The additional data a TOTP secret is sealed with: it cannot be moved to another user's row. */
const aadOf = (user: UserRow): string => `totp:${user.id}`;

export class Mfa {
  constructor(
    private readonly store: SecurityStore,
    /** The key ring; `reload` reads it again (another process rotated the key file). */
    private readonly keys: (reload?: boolean) => KeyRing,
    private readonly clock: Clock,
  ) {}

  /**
   * Whether `code` proves the user's second factor: a TOTP code of the current step or one either
   * side, newer than the last one accepted, or an unused recovery code (used up by this call).
   */
  async verify(user: UserRow, code: string): Promise<boolean> {
    if (!user.totpConfirmed || user.totpSecret === null) return false;
    const now = this.clock.now();
    const trimmed = code.trim();
    if (/^\d{6}$/.test(trimmed)) {
      const secret = this.secretOf(user, user.totpSecret);
      const result = verifyTotp({ secret, code: trimmed, now, lastStep: user.totpLastStep ?? undefined });
      return result.ok && (await this.store.takeTotpStep(user.id, result.step, now));
    }
    const index = matchRecoveryCode(trimmed, user.recoveryCodes);
    if (index < 0) return false;
    return this.store.takeRecoveryCode(user.id, user.recoveryCodes[index]!, now);
  }

  /** Starts (or restarts) enrolment: a new secret, not in force until `confirm` sees a code from it. */
  async start(user: UserRow): Promise<Enrolment> {
    if (user.totpConfirmed)
      throw new ConflictError(
        `${user.name} already has TOTP; an admin can reset it with "shipcheck user reset-mfa"`,
      );
    const secret = generateTotpSecret();
    await this.store.updateUser(
      user.id,
      { totpSecret: seal(this.keys(), secret, aadOf(user)), totpConfirmed: false, totpLastStep: null },
      this.clock.now(),
    );
    const uri = otpauthUri({ secret, account: user.name });
    return { secret, uri, qrSvg: await qrCodeSvg(uri) };
  }

  /** Puts TOTP in force once `code` comes from the new secret; returns the recovery codes, shown once. */
  async confirm(user: UserRow, code: string): Promise<string[]> {
    if (user.totpConfirmed) throw new ConflictError(`${user.name} already has TOTP`);
    if (user.totpSecret === null) throw new ConflictError('start TOTP enrolment first');
    const now = this.clock.now();
    const secret = this.secretOf(user, user.totpSecret);
    const result = verifyTotp({ secret, code: code.trim(), now, lastStep: undefined });
    if (!result.ok)
      throw new InputError('that code does not match; check the clock of the device and try the next code');
    const codes = generateRecoveryCodes();
    await this.store.updateUser(
      user.id,
      { totpConfirmed: true, totpLastStep: result.step, recoveryCodes: codes.map(hashRecoveryCode) },
      now,
    );
    return codes;
  }

  /**
   * The user's TOTP secret. A secret sealed under a key this process has not seen was re-sealed by
   * `shipcheck keys rotate` while it ran: the key ring is read again, so rotation needs no restart.
   */
  private secretOf(user: UserRow, sealed: string): string {
    try {
      return open(this.keys(), sealed, aadOf(user));
    } catch (err) {
      if (!(err instanceof SecretBoxError) || err.reason !== 'unknown-key') throw err;
      return open(this.keys(true), sealed, aadOf(user));
    }
  }

  /** Removes a user's TOTP and recovery codes (an admin's reset, for a lost device). */
  async reset(user: UserRow): Promise<void> {
    await this.store.updateUser(
      user.id,
      { totpSecret: null, totpConfirmed: false, totpLastStep: null, recoveryCodes: [] },
      this.clock.now(),
    );
  }
}
