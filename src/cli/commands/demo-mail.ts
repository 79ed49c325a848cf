/**
 * The demo's mail server: a real SMTP server (the `smtp-server` package) on a free local port that
 * keeps what it receives, so the demo can show the pages and notices shipcheck sent by email.
 */
import type { AddressInfo } from 'node:net';
import { ShipcheckError } from '../../errors.js';

/** One message as received: envelope recipients, and the Subject header. */
export interface DemoMail {
  to: string[];
  subject: string;
  at: number;
}

/** The running mail server. */
export interface DemoMailServer {
  host: string;
  port: number;
  /** Every message received so far, oldest first. */
  readonly messages: readonly DemoMail[];
  close(): Promise<void>;
}

/** Most bytes kept of one message's head; the Subject is in it. */
const MAX_HEAD_BYTES = 64 * 1024;

/** The Subject header of a raw message (RFC 5322 folding undone; encoded words left as they are). */
export function subjectOf(raw: string): string {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const line = unfolded.split(/\r?\n/).find((l) => /^subject:/i.test(l));
  return line ? line.slice('subject:'.length).trim() : '';
}

/** Starts the mail server on 127.0.0.1. It needs the `smtp-server` package, which `npm install` brings. */
export async function startDemoMail(): Promise<DemoMailServer> {
  let SMTPServer: typeof import('smtp-server').SMTPServer;
  try {
    ({ SMTPServer } = await import('smtp-server'));
  } catch {
    throw new ShipcheckError(
      'the demo needs the smtp-server package for its mail server: run npm install in the shipcheck folder (not --omit=dev)',
    );
  }
  const messages: DemoMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (chunk: Buffer) => {
        if (raw.length < MAX_HEAD_BYTES) raw += chunk.toString('utf8');
      });
      stream.on('end', () => {
        messages.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          subject: subjectOf(raw),
          at: Date.now(),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    host: '127.0.0.1',
    port,
    messages,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
