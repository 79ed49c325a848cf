/** Standard Webhooks signatures (https://www.standardwebhooks.com): what a receiver verifies. */
import crypto from 'node:crypto';

const PREFIX = 'whsec_';

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under the key a `whsec_...` secret encodes. */
export function signPayload(secret: string, id: string, timestampSec: number, body: string): string {
  const key = Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64');
  const mac = crypto.createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The three Standard Webhooks headers; with several secrets (a rotation) one signature per secret. */
export function webhookHeaders(
  secrets: readonly string[],
  id: string,
  timestampSec: number,
  body: string,
): Record<string, string> {
  const headers: Record<string, string> = {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSec),
  };
  if (secrets.length > 0)
    headers['webhook-signature'] = secrets.map((s) => signPayload(s, id, timestampSec, body)).join(' ');
  return headers;
}
