/**
 * A checklist item's params may hold a secret (`{{vars.NAME}}` filled from a secret reference): the
 * check needs the value, the store and every view must not show it. The store keeps the params with
 * each secret shown as `***`, plus the whole params sealed with AES-256-GCM under `$sealed`, which
 * only the runner opens, just before the check runs.
 */
import { redactDeep } from '../util/secrets.js';

/** The key under which the sealed params are kept. */
export const SEALED_KEY = '$sealed';

/** What sealed params are bound to: they open only for the item and release they were sealed for. */
export function paramsAad(releaseId: number, itemId: string): string {
  return `checklist:${releaseId}:${itemId}`;
}

/** Encrypts and decrypts text for the store (security/secret-box.ts under the installation's key ring). */
export interface Sealer {
  seal(plaintext: string, aad: string): string;
  open(sealed: string, aad: string): string;
}

/** `params` as stored: unchanged when they hold no secret, else redacted with the real ones sealed beside. */
export function sealParams(
  params: Record<string, unknown>,
  sealer: Sealer,
  aad: string,
): Record<string, unknown> {
  const shown = redactDeep(params);
  if (shown === params) return params;
  return { ...shown, [SEALED_KEY]: sealer.seal(JSON.stringify(params), aad) };
}

/** The params a check runs with: the sealed ones opened, or the stored ones as they are. */
export function openParams(
  params: Record<string, unknown>,
  sealer: Sealer | undefined,
  aad: string,
): Record<string, unknown> {
  const sealed = params[SEALED_KEY];
  if (typeof sealed !== 'string' || sealer === undefined) return params;
  return JSON.parse(sealer.open(sealed, aad)) as Record<string, unknown>;
}

/** `params` for a view: without the sealed copy. */
export function shownParams(params: Record<string, unknown>): Record<string, unknown> {
  if (!(SEALED_KEY in params)) return params;
  const { [SEALED_KEY]: _sealed, ...rest } = params;
  return rest;
}
