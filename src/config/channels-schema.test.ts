import { describe, expect, it } from 'vitest';
import { channelsSchema } from './channels-schema.js';
import { configSchema } from './schema.js';

const WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

function problems(value: unknown): string[] {
  const parsed = channelsSchema.safeParse(value);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('channels:', () => {
  it('takes each type with its keys and fills in the defaults', () => {
    const channels = channelsSchema.parse([
      { name: 'ops-hook', type: 'webhook', url: 'https://hooks.example.com/x', secrets: [WHSEC, WHSEC] },
      { name: 'chat', type: 'slack', url: 'https://hooks.slack.com/services/T/B/X' },
      {
        name: 'mail',
        type: 'email',
        smtp: { host: 'smtp.example.com' },
        from: 'shipcheck@example.com',
        to: ['ops@example.com'],
      },
      {
        name: 'mail2',
        type: 'email',
        url: 'smtps://u:p@smtp.example.com',
        from: 'a@example.com',
        to: ['b@example.com'],
      },
      { name: 'pager', type: 'pagerduty', routingKey: 'R0UTING' },
    ]);
    expect(channels[0]).toMatchObject({ headers: {}, timeout: 10_000 });
    expect(channels[2]).toMatchObject({ smtp: { host: 'smtp.example.com', port: 587 } });
    expect(channels[4]).toMatchObject({ url: 'https://events.pagerduty.com' });
    expect(channelsSchema.parse(undefined)).toEqual([]);
  });

  it('refuses a repeated name, a bad secret, an unknown type, and an email channel without a server', () => {
    expect(
      problems([
        { name: 'a', type: 'slack', url: 'https://x.example.com' },
        { name: 'a', type: 'slack', url: 'https://y.example.com' },
      ]),
    ).toEqual(['1.name: channel name "a" is used twice']);
    expect(
      problems([{ name: 'h', type: 'webhook', url: 'https://x.example.com', secret: 'hunter2' }])[0],
    ).toMatch(/^0.secret: .*whsec_/);
    expect(problems([{ name: 'h', type: 'fax' }])).toHaveLength(1);
    expect(problems([{ name: 'm', type: 'email', from: 'a@example.com', to: ['b@example.com'] }])).toEqual([
      '0: give either smtp: {host, port, ...} or url: smtp://...',
    ]);
  });

  it('reads credentials from secret references, in a lone service file too', () => {
    process.env.SHIPCHECK_TEST_PD_KEY = 'from-the-environment';
    const config = configSchema.parse({
      service: 'web',
      fleet: { kind: 'local', command: 'true' },
      channels: [
        { name: 'pager', type: 'pagerduty', routingKey: { secret: { env: 'SHIPCHECK_TEST_PD_KEY' } } },
      ],
    });
    expect(config.channels[0]).toMatchObject({ routingKey: 'from-the-environment' });
    delete process.env.SHIPCHECK_TEST_PD_KEY;
  });
});
