/**
 * The communication half of the checklist, end to end: an automated rollback, with nobody at the
 * keyboard, opens an incident, pages the primary on call by email (a real SMTP peer), escalates
 * to the secondary when nobody acknowledges, shows the component degraded on the status page (read
 * with the real statuspage.io client), and resolves everything once the rollback is verified.
 */
import { Statuspage } from 'statuspage.io';
import { afterAll, describe, expect, it } from 'vitest';
import { LoadGenerator } from '../../src/load/load-generator.js';
import { startSmtp } from '../support/notify-peers.js';
import { Scenario, waitFor } from './harness.js';

interface IncidentJson {
  id: number;
  key: string;
  state: string;
  source: string;
  severity: string;
  paged: unknown[];
}

interface TimelineJson {
  kind: string;
  message: string;
}

interface SummaryJson {
  status: { indicator: string };
  components: { name: string; status: string }[];
  incidents: { name: string; status: string; incident_updates: { status: string; body: string }[] }[];
}

describe('an automated rollback tells everyone, with no human', () => {
  let s: Scenario | undefined;
  let smtp: Awaited<ReturnType<typeof startSmtp>> | undefined;
  afterAll(async () => {
    await s?.cleanup();
    await smtp?.close();
  });

  it('opens an incident, pages the primary, escalates to the secondary, degrades the component and resolves it all', async () => {
    // Given an installation with an email channel, two schedules, a policy and a status page
    smtp = await startSmtp({ user: 'mailer', password: 'mail-secret' });
    s = await Scenario.create({
      faults: { v2: { errorRate: 0.3 } },
      steps: '[{setWeight: 50}, {pause: 1h}]',
      triggers: '[{metric: error_rate, above: 5%, window: 3s, for: 500ms, minRequests: 10}]',
      extra: `channels:
  - name: releases-mail
    type: email
    smtp: { host: 127.0.0.1, port: ${smtp.port}, user: mailer, password: mail-secret }
    from: shipcheck@example.com
    to: [releases@example.com]
oncall:
  schedules:
    - { name: primary, timeZone: UTC, layers: [{ name: all, users: [ana], start: '2026-01-05T00:00', turn: weekly }] }
    - { name: secondary, timeZone: UTC, layers: [{ name: all, users: [ben], start: '2026-01-05T00:00', turn: weekly }] }
  escalationPolicies:
    - name: web-oncall
      steps:
        - { delay: 2s, targets: [{ schedule: primary }] }
        - { delay: 10m, targets: [{ schedule: secondary }] }
statusPage:
  name: Example
  components: [{ name: Web shop, services: [web] }]
communication:
  notify: { rolledBack: [releases-mail] }
  incident: { escalationPolicy: web-oncall, severity: critical, monitorFor: 20s }
`,
    });
    await s.up();
    for (const name of ['ana', 'ben']) {
      const user = await s.api('/api/v1/users', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, password: `${name}-password-1234`, roles: ['deployer'] }),
      });
      expect(user.status).toBe(201);
      const method = await s.api(`/api/v1/users/${name}/contact-methods`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'email', value: `${name}@example.com` }),
      });
      expect(method.status).toBe(201);
    }
    expect((await s.cli('deploy', 'v1', '--wait')).code).toBe(0);

    // When v2 fails its canary under load and is rolled back automatically
    const load = new LoadGenerator({ url: `${s.proxyUrl}/`, rps: 60, concurrency: 6, maxDurationMs: 60_000 });
    load.start();
    try {
      expect((await s.cli('deploy', 'v2', '--wait')).code).toBe(3);
    } finally {
      await load.stop();
    }

    // Then an incident is open for the rollback, with its reason
    const incidents = async (): Promise<IncidentJson[]> =>
      ((await (await s!.api('/api/v1/incidents')).json()) as { incidents: IncidentJson[] }).incidents;
    await waitFor('the rollback incident', async () =>
      (await incidents()).some((i) => i.source === 'rollback'),
    );
    const incident = (await incidents()).find((i) => i.source === 'rollback')!;
    expect(incident).toMatchObject({ key: 'rollback:web#2', severity: 'critical' });

    // And the primary on call is paged by email, then the secondary, as nobody acknowledges
    const mailTo = (address: string) => smtp!.mails.filter((m) => m.to.includes(address));
    await waitFor('the page to the primary', async () => mailTo('ana@example.com').length > 0);
    expect(mailTo('ana@example.com')[0]!.data).toMatch(/rolled back automatically/);
    await waitFor('the escalation to the secondary', async () => mailTo('ben@example.com').length > 0);
    // And the release channel heard of the rollback
    await waitFor('the release notice', async () => mailTo('releases@example.com').length > 0);

    // And the status page, read by the statuspage.io client, shows the component degraded and the incident
    const page = new Statuspage('shipcheck');
    page.setApiUrl(s.apiUrl);
    const summary = async (): Promise<SummaryJson> => (await page.api.getSummary()) as unknown as SummaryJson;
    const during = await summary();
    expect(during.components).toEqual([
      expect.objectContaining({ name: 'Web shop', status: 'degraded_performance' }),
    ]);
    expect(during.status.indicator).not.toBe('none');
    expect(during.incidents[0]!.name).toMatch(/web: release v2 rolled back automatically/);
    expect(during.incidents[0]!.incident_updates.map((u) => u.body).join('\n')).toMatch(/error_rate/);

    // And once the rollback is verified and monitored, the incident resolves, and so does the page
    await waitFor(
      'the incident resolved',
      async () => (await incidents()).find((i) => i.id === incident.id)?.state === 'resolved',
    );
    const detail = (await (await s.api(`/api/v1/incidents/${incident.id}`)).json()) as {
      timeline: TimelineJson[];
    };
    expect(detail.timeline.map((e) => e.kind)).toEqual(
      expect.arrayContaining(['triggered', 'escalated', 'resolved']),
    );
    const after = await summary();
    expect(after.components).toEqual([expect.objectContaining({ name: 'Web shop', status: 'operational' })]);
    // The summary lists unresolved incidents only, as Statuspage's does; the history has it resolved
    expect(after.incidents).toEqual([]);
    const history = (await page.api.incidents.getAll()) as unknown as { incidents: SummaryJson['incidents'] };
    expect(history.incidents[0]).toMatchObject({ status: 'resolved' });
    expect(history.incidents[0]!.incident_updates.map((u) => u.status)).toEqual(
      expect.arrayContaining(['investigating', 'monitoring', 'resolved']),
    );
    // And the escalation's pages and the release notice are in the delivery log, delivered
    const log = (await (await s.api('/api/v1/notifications?limit=50')).json()) as {
      notifications: { channel: string; state: string }[];
    };
    expect(log.notifications.filter((n) => n.state === 'failed')).toEqual([]);
    expect(log.notifications.map((n) => n.channel)).toEqual(
      expect.arrayContaining(['user:ana', 'user:ben', 'releases-mail']),
    );
  });
});
