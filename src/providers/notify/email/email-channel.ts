import nodemailer, { type Transporter } from 'nodemailer';
import type { Notice } from '../../../comms/types.js';
import type { DeliveryResult, NotifyChannel, SendContext } from '../types.js';

/** How to reach the SMTP server: its parts, or one `smtp://` URL. */
export type SmtpSettings =
  | {
      host: string;
      port: number;
      secure?: boolean | undefined;
      user?: string | undefined;
      password?: string | undefined;
    }
  | { url: string };

/** What an email channel needs. */
export interface EmailChannelOptions {
  smtp: SmtpSettings;
  from: string;
  to: readonly string[];
  timeoutMs: number;
}

/** Escapes text for HTML. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The mail for a notice: a subject, a plain text part and a simple HTML part. */
export function emailMessage(notice: Notice): { subject: string; text: string; html: string } {
  const subject = `[${notice.severity}] ${notice.title}`;
  const lines = [
    notice.text,
    '',
    ...(notice.service ? [`Service: ${notice.service}`] : []),
    `Event: ${notice.event}`,
    ...(notice.url ? [`Details: ${notice.url}`] : []),
  ];
  const html = [
    `<h2>${escapeHtml(notice.title)}</h2>`,
    `<p>${escapeHtml(notice.text).replace(/\n/g, '<br>')}</p>`,
    '<p>',
    ...(notice.service ? [`Service: <b>${escapeHtml(notice.service)}</b><br>`] : []),
    `Event: ${escapeHtml(notice.event)}`,
    '</p>',
    ...(notice.url ? [`<p><a href="${escapeHtml(notice.url)}">Open in shipcheck</a></p>`] : []),
  ].join('\n');
  return { subject, text: lines.join('\n'), html };
}

/**
 * The list headers of a notice that carries an unsubscribe link (a status-page subscriber's,
 * `data.unsubscribeUrl`): `List-Unsubscribe`, and with an https link RFC 8058's
 * `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, which mail clients POST to the link. Nothing
 * for other notices.
 */
export function unsubscribeHeaders(
  notice: Notice,
): { list: { unsubscribe: string }; headers: Record<string, string> } | undefined {
  const link = notice.data?.unsubscribeUrl;
  if (typeof link !== 'string') return undefined;
  let url: URL;
  try {
    url = new URL(link);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  return {
    list: { unsubscribe: url.href },
    headers: url.protocol === 'https:' ? { 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } : {},
  };
}

/** The SMTP server's host, safe to show. */
function hostOf(smtp: SmtpSettings): string {
  if ('host' in smtp) return `smtp://${smtp.host}:${smtp.port}`;
  try {
    const url = new URL(smtp.url);
    return `${url.protocol}//${url.host}`;
  } catch {
    return 'smtp://…';
  }
}

/** Sends notices as mail over SMTP (nodemailer), one message to every recipient. */
export class EmailChannel implements NotifyChannel {
  readonly type = 'email';
  readonly target: string;
  private readonly transport: Transporter;

  constructor(private readonly options: EmailChannelOptions) {
    this.target = `${hostOf(options.smtp)} to ${options.to.join(', ')}`;
    const timeouts = {
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
    };
    const smtp = options.smtp;
    this.transport =
      'url' in smtp
        ? nodemailer.createTransport(smtp.url, timeouts)
        : nodemailer.createTransport({
            host: smtp.host,
            port: smtp.port,
            secure: smtp.secure ?? smtp.port === 465,
            ...(smtp.user !== undefined ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}),
            ...timeouts,
          });
  }

  async send(notice: Notice, context: SendContext): Promise<DeliveryResult> {
    const message = emailMessage(notice);
    try {
      const info = await this.transport.sendMail({
        from: this.options.from,
        to: [...this.options.to],
        subject: message.subject,
        text: message.text,
        html: message.html,
        messageId: `<${context.id.replace(/[^A-Za-z0-9._-]/g, '_')}@shipcheck>`,
        ...unsubscribeHeaders(notice),
      });
      return { delivered: true, detail: String(info.response ?? '') };
    } catch (err) {
      const e = err as Error & { response?: string; responseCode?: number; code?: string };
      const answer = e.response ?? e.message;
      return {
        delivered: false,
        error: `SMTP ${e.responseCode !== undefined ? `${e.responseCode}` : (e.code ?? 'error')}: ${answer}`,
        ...(e.responseCode !== undefined ? { status: e.responseCode } : {}),
      };
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
