/**
 * Real peers for the notification tests: an HTTP receiver that records what it is sent and answers
 * as told, and an SMTP server (the smtp-server package) that checks a password and keeps each mail.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** One request a receiver got. */
export interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** An HTTP server on a free port that records requests; `answer` decides each reply. */
export interface Receiver {
  url: string;
  received: Received[];
  /** Sets the reply to the next requests: a status and a body. */
  answer: (request: Received) => { status: number; body?: string };
  close(): Promise<void>;
}

/** Starts a receiver answering 200 unless told otherwise. */
export async function startReceiver(
  answer: (request: Received) => { status: number; body?: string } = () => ({ status: 200, body: 'ok' }),
): Promise<Receiver> {
  const received: Received[] = [];
  const receiver: Receiver = { url: '', received, answer, close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const request = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(request);
      const reply = receiver.answer(request);
      res.writeHead(reply.status, { 'content-type': 'text/plain' }).end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

/** One mail the SMTP server accepted. */
export interface Mail {
  from: string;
  to: string[];
  data: string;
}

/** An SMTP server on a free port that takes plain auth with one user and password, without TLS. */
export async function startSmtp(credentials: { user: string; password: string }): Promise<{
  port: number;
  mails: Mail[];
  /** When set, every message is refused with 550 and this text. */
  refuseWith: string | undefined;
  close(): Promise<void>;
}> {
  const mails: Mail[] = [];
  const peer = { refuseWith: undefined as string | undefined };
  const server = new SMTPServer({
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === credentials.user && auth.password === credentials.password)
        return callback(null, { user: auth.username });
      return callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (peer.refuseWith !== undefined)
          return callback(Object.assign(new Error(peer.refuseWith), { responseCode: 550 }));
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return Object.assign(peer, {
    port,
    mails,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** A receiver as a channel contract's peer: 2xx (`okStatus`) when accepting, 403 with `refusal` otherwise. */
export async function httpContractPeer(
  refusal: string,
  okStatus = 200,
): Promise<{ url: string; accept(): void; refuse(): void; accepted(): number; close(): Promise<void> }> {
  let refusing = false;
  let accepted = 0;
  const receiver = await startReceiver(() => {
    if (refusing) return { status: 403, body: refusal };
    accepted++;
    return { status: okStatus, body: 'ok' };
  });
  return {
    url: receiver.url,
    accept: () => (refusing = false),
    refuse: () => (refusing = true),
    accepted: () => accepted,
    close: () => receiver.close(),
  };
}

/** A port nothing listens on (a receiver started and closed). */
export async function closedUrl(): Promise<string> {
  const receiver = await startReceiver();
  await receiver.close();
  return receiver.url;
}
