import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSmtp } from '../../../../test/support/notify-peers.js';
import { freePort } from '../../../util/net.js';
import { REFUSAL, runNotifyChannelContract } from '../notify-channel.case.js';
import { EmailChannel } from './email-channel.js';

let smtp: Awaited<ReturnType<typeof startSmtp>>;
beforeEach(async () => {
  smtp = await startSmtp({ user: 'mailer', password: 's3cret' });
});
afterEach(async () => smtp.close());

const notice = {
  event: 'release.rolled_back',
  title: 'web 1.4.2 rolled back',
  text: 'p99 2.4 s > 2 s on canary',
  severity: 'error' as const,
  service: 'web',
  url: 'https://shipcheck.example.com/releases/12',
};

describe('EmailChannel', () => {
  it('sends a mail with the subject, a text and an HTML part, to every recipient', async () => {
    const channel = new EmailChannel({
      smtp: { host: '127.0.0.1', port: smtp.port, user: 'mailer', password: 's3cret' },
      from: 'shipcheck <shipcheck@example.com>',
      to: ['ops@example.com', 'sre@example.com'],
      timeoutMs: 5000,
    });
    const result = await channel.send(notice, { id: 'notification-5', at: Date.now() });
    await channel.close();
    expect(result).toMatchObject({ delivered: true });
    expect(smtp.mails).toHaveLength(1);
    const [mail] = smtp.mails;
    expect(mail!.from).toBe('shipcheck@example.com');
    expect(mail!.to).toEqual(['ops@example.com', 'sre@example.com']);
    expect(mail!.data).toContain('Subject: [error] web 1.4.2 rolled back');
    expect(mail!.data).toContain('p99 2.4 s > 2 s on canary');
    expect(mail!.data).toContain('text/html');
    expect(mail!.data).toContain('Message-ID: <notification-5@shipcheck>');
    expect(channel.target).toBe(`smtp://127.0.0.1:${smtp.port} to ops@example.com, sre@example.com`);
  });

  it("puts a subscriber notice's unsubscribe link in List-Unsubscribe, with RFC 8058's one-click POST", async () => {
    const channel = new EmailChannel({
      smtp: { host: '127.0.0.1', port: smtp.port, user: 'mailer', password: 's3cret' },
      from: 'status@example.com',
      to: ['ann@example.com'],
      timeoutMs: 5000,
    });
    const unsubscribeUrl = 'https://status.example.com/status/unsubscribe?token=abc_DEF-123';
    const sent = await channel.send(
      { ...notice, event: 'status_page.incident.created', data: { unsubscribeUrl } },
      { id: 'n-1', at: Date.now() },
    );
    // An ordinary notice has no list headers.
    await channel.send(notice, { id: 'n-2', at: Date.now() });
    await channel.close();
    expect(sent).toMatchObject({ delivered: true });
    const [withLink, plain] = smtp.mails;
    // Headers as a reader sees them: long ones are folded onto continuation lines.
    const headers = withLink!.data.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n(?=[ \t])/g, '');
    expect(headers).toContain(`List-Unsubscribe: <${unsubscribeUrl}>`);
    expect(headers).toContain('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
    expect(plain!.data).not.toContain('List-Unsubscribe');
  });

  it('takes the server as one smtp:// URL', async () => {
    const channel = new EmailChannel({
      smtp: { url: `smtp://mailer:s3cret@127.0.0.1:${smtp.port}` },
      from: 'shipcheck@example.com',
      to: ['ops@example.com'],
      timeoutMs: 5000,
    });
    expect(await channel.send(notice, { id: 'u', at: Date.now() })).toMatchObject({ delivered: true });
    await channel.close();
    expect(smtp.mails[0]!.to).toEqual(['ops@example.com']);
  });

  it("carries the server's answer to a wrong password", async () => {
    const channel = new EmailChannel({
      smtp: { host: '127.0.0.1', port: smtp.port, user: 'mailer', password: 'wrong' },
      from: 'shipcheck@example.com',
      to: ['ops@example.com'],
      timeoutMs: 5000,
    });
    const result = await channel.send(notice, { id: 'w', at: Date.now() });
    await channel.close();
    expect(result).toMatchObject({ delivered: false, status: 535 });
    expect(!result.delivered && result.error).toMatch(/^SMTP 535: 535 Invalid username or password/);
    expect(smtp.mails).toHaveLength(0);
  });
});

runNotifyChannelContract('email', async () => {
  const server = await startSmtp({ user: 'mailer', password: 'contract-s3cret' });
  const options = { from: 'shipcheck@example.com', to: ['ops@example.com'], timeoutMs: 5000 };
  const smtp = { host: '127.0.0.1', user: 'mailer', password: 'contract-s3cret' };
  return {
    channel: new EmailChannel({ ...options, smtp: { ...smtp, port: server.port } }),
    unreachable: new EmailChannel({ ...options, smtp: { ...smtp, port: await freePort() } }),
    peer: {
      accept: () => (server.refuseWith = undefined),
      refuse: () => (server.refuseWith = REFUSAL),
      accepted: () => server.mails.length,
      close: () => server.close(),
    },
    secret: 'contract-s3cret',
  };
});
