/**
 * `shipcheck mfa enrol|confirm`: a person's own TOTP second factor. Enrolment shows the otpauth://
 * URI and a QR code drawn in the terminal (made here: the secret never leaves for a QR service); a
 * first code from the app puts it in force and brings the recovery codes, shown once.
 */
import QRCode from 'qrcode';
import { enrolmentShape, recoveryCodesShape } from '../api-shapes.js';
import type { ApiClient } from '../client.js';
import { ask, canAsk } from '../prompt.js';
import { type LoginOptions, signIn } from '../sign-in.js';
import type { GlobalOptions, Io } from '../target.js';

/**
 * `shipcheck mfa enrol [--code CODE]`: starts enrolment and prints the URI, the QR code and the
 * secret; then confirms with --code, or with a code asked on a terminal. Without either, says to run
 * `mfa confirm CODE`. With --json, prints `{secret, uri}` and confirms only with --code.
 */
export async function mfaEnrolCommand(
  opts: GlobalOptions & LoginOptions & { code?: string },
  io: Io,
): Promise<number> {
  const { client, end } = await signIn(opts, opts);
  try {
    const enrolment = await client.post('/api/v1/me/mfa/enrol', {}, enrolmentShape);
    if (opts.json) {
      io.out(JSON.stringify({ secret: enrolment.secret, uri: enrolment.uri }, null, 2));
      if (opts.code !== undefined) await confirm(client, opts.code, opts, io);
      return 0;
    }
    io.out('Scan this with an authenticator app, or add the URI or the secret by hand:');
    io.out('');
    const qr = await QRCode.toString(enrolment.uri, { type: 'terminal', small: true });
    qr.replace(/\n+$/, '')
      .split('\n')
      .forEach((line) => io.out(line));
    io.out(enrolment.uri);
    io.out(`secret: ${enrolment.secret}`);
    io.out('');
    const code = opts.code ?? (canAsk() ? await ask('Code shown by the app: ', { echo: true }) : undefined);
    if (code === undefined) {
      io.err('TOTP is not in force yet: run "shipcheck mfa confirm CODE" with a code from the app');
      return 0;
    }
    await confirm(client, code, opts, io);
    return 0;
  } finally {
    await end();
  }
}

/** `shipcheck mfa confirm CODE`: puts TOTP in force and prints the recovery codes, once. */
export async function mfaConfirmCommand(
  code: string,
  opts: GlobalOptions & LoginOptions,
  io: Io,
): Promise<number> {
  const { client, end } = await signIn(opts, opts);
  try {
    await confirm(client, code, opts, io);
    return 0;
  } finally {
    await end();
  }
}

async function confirm(client: ApiClient, code: string, opts: GlobalOptions, io: Io): Promise<void> {
  const { recoveryCodes } = await client.post('/api/v1/me/mfa/confirm', { code }, recoveryCodesShape);
  if (opts.json) {
    io.out(JSON.stringify({ recoveryCodes }, null, 2));
  } else {
    recoveryCodes.forEach((recovery) => io.out(recovery));
  }
  io.err(
    'TOTP is in force. These recovery codes are shown once and cannot be shown again: keep them somewhere ' +
      'safe; each works once in place of a code, should the device be lost',
  );
}
