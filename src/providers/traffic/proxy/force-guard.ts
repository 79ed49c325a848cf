/**
 * Who may force a version with the version header: a request that carries the force token, or one
 * from an address on `traffic.forceFrom`. Anyone else's version header is ignored, so a client on
 * the internet can neither send itself to the canary nor skew the canary's verdict.
 */
import crypto from 'node:crypto';
import { AddressList } from '../../../util/address-list.js';

/** Request header that carries the force token; the proxy never forwards it. */
export const FORCE_TOKEN_HEADER = 'X-Shipcheck-Force-Token';

/** Decides whether a request may force its version. */
export class ForceGuard {
  private readonly tokenDigest: Buffer | undefined;
  private readonly from: AddressList;

  /**
   * `token`: the secret a request shows in FORCE_TOKEN_HEADER (none: no token is accepted);
   * `from`: IP addresses and CIDR ranges whose requests may force without it. Throws Error on a bad entry.
   */
  constructor(token: string | undefined, from: readonly string[] = []) {
    this.tokenDigest = token === undefined || token === '' ? undefined : digest(token);
    this.from = new AddressList(from);
  }

  /** True when the request shows the token (compared in constant time) or comes from a listed address. */
  allows(shownToken: string | undefined, remoteAddress: string | undefined): boolean {
    if (shownToken !== undefined && this.tokenDigest !== undefined) {
      // Digests have one length, so the comparison reveals neither the token nor its length.
      if (crypto.timingSafeEqual(digest(shownToken), this.tokenDigest)) return true;
    }
    return this.from.has(remoteAddress);
  }
}

/** A fresh random force token, for a proxy whose config names none. */
export function randomForceToken(): string {
  return crypto.randomBytes(32).toString('base64url');
}

function digest(text: string): Buffer {
  return crypto.createHash('sha256').update(text, 'utf8').digest();
}
