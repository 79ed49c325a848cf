import nodemailer from 'nodemailer';
import { describe, expect, it } from 'vitest';
import { startDemoMail, subjectOf } from './demo-mail.js';

describe('the demo mail server', () => {
  it('receives a message sent over SMTP and keeps its recipients and subject', async () => {
    const mail = await startDemoMail();
    try {
      const transport = nodemailer.createTransport({
        host: mail.host,
        port: mail.port,
        secure: false,
        ignoreTLS: true,
      });
      await transport.sendMail({
        from: 'shipcheck@demo.example',
        to: 'ana@demo.example',
        subject: 'Incident #1: demo rolled back automatically',
        text: 'hello',
      });
      expect(mail.messages).toEqual([
        {
          to: ['ana@demo.example'],
          subject: 'Incident #1: demo rolled back automatically',
          at: expect.any(Number),
        },
      ]);
    } finally {
      await mail.close();
    }
  });

  it('reads a folded Subject header', () => {
    expect(subjectOf('From: a\r\nSubject: one\r\n two\r\n\r\nbody')).toBe('one two');
    expect(subjectOf('From: a\n\nSubject: in the body')).toBe('');
  });
});
