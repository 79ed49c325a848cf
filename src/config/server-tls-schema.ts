import { z } from 'zod';

/**
 * `server.tls`: the API and dashboard served over HTTPS. Its own module so that the server block in
 * schema.ts only names it. Paths resolve against the config file's folder, like every path setting.
 */
export const serverTlsSchema = z
  .strictObject({
    cert: z
      .string()
      .min(1)
      .describe(
        'PEM certificate chain (the server certificate first), relative to the config file. Re-read when it changes on disk.',
      ),
    key: z
      .string()
      .min(1)
      .describe(
        'PEM private key of the certificate, relative to the config file. Re-read when it changes on disk.',
      ),
    clientCA: z
      .string()
      .min(1)
      .optional()
      .describe(
        'PEM file of the CA(s) whose client certificates are required: a client without one is refused at the handshake.',
      ),
  })
  .describe('Serve the API and dashboard over HTTPS (TLS 1.2 or later), with HSTS on every response.');

/** `server.tls` as written: paths relative to the config file's folder. */
export type ServerTlsConfig = z.output<typeof serverTlsSchema>;
