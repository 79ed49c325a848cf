import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type Receiver,
  closedUrl,
  httpContractPeer,
  startReceiver,
} from '../../../../test/support/notify-peers.js';
import { REFUSAL, runNotifyChannelContract } from '../notify-channel.case.js';
import type { Notice } from '../../../comms/types.js';
import { PagerDutyChannel } from './pagerduty-channel.js';

const ROUTING_KEY = 'R0UT1NGKEY0000000000000000000000';
const AT = Date.parse('2026-12-06T10:00:00Z');

/** Checks what PagerDuty's Events API checks, and answers 202 as it does. */
function pagerdutyLike(request: { path: string; body: string }): { status: number; body: string } {
  const event = JSON.parse(request.body) as Record<string, unknown>;
  if (event.routing_key !== ROUTING_KEY)
    return { status: 400, body: '{"status":"invalid event","message":"Invalid routing key"}' };
  return { status: 202, body: '{"status":"success","message":"Event processed"}' };
}

const incident = (event: string): Notice => ({
  event,
  title: 'web is down',
  text: '5xx rate 40%',
  severity: 'critical',
  service: 'web@production',
  url: 'https://shipcheck.example.com/incidents/4',
  incident: { id: 4, key: 'incident-4', state: event.split('.')[1] ?? '' },
});

let receiver: Receiver;
beforeEach(async () => {
  receiver = await startReceiver(pagerdutyLike);
});
afterEach(async () => receiver.close());

describe('PagerDutyChannel', () => {
  it('triggers an incident with its dedup key and payload, then acknowledges and resolves it', async () => {
    const channel = new PagerDutyChannel({ routingKey: ROUTING_KEY, url: receiver.url, timeoutMs: 5000 });
    for (const event of ['incident.triggered', 'incident.acknowledged', 'incident.resolved'])
      expect(await channel.send(incident(event), { id: event, at: AT })).toMatchObject({
        delivered: true,
        status: 202,
      });
    const sent = receiver.received.map((r) => ({
      path: r.path,
      body: JSON.parse(r.body) as Record<string, unknown>,
    }));
    expect(sent.map((s) => s.path)).toEqual(['/v2/enqueue', '/v2/enqueue', '/v2/enqueue']);
    expect(sent[0]!.body).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: 'incident-4',
      payload: {
        summary: 'web is down: 5xx rate 40%',
        source: 'web@production',
        severity: 'critical',
        timestamp: '2026-12-06T10:00:00.000Z',
        component: 'web@production',
        group: 'web',
        class: 'incident.triggered',
        custom_details: { text: '5xx rate 40%', incident: { id: 4, key: 'incident-4', state: 'triggered' } },
      },
      links: [{ href: 'https://shipcheck.example.com/incidents/4', text: 'Open in shipcheck' }],
      client: 'shipcheck',
      client_url: 'https://shipcheck.example.com/incidents/4',
    });
    expect(sent[1]!.body).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'acknowledge',
      dedup_key: 'incident-4',
    });
    expect(sent[2]!.body).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: 'incident-4',
    });
  });

  it('sends an escalation as another trigger of the same incident', async () => {
    const channel = new PagerDutyChannel({ routingKey: ROUTING_KEY, url: receiver.url, timeoutMs: 5000 });
    await channel.send(incident('incident.escalated'), { id: 'e', at: AT });
    expect(JSON.parse(receiver.received[0]!.body)).toMatchObject({
      event_action: 'trigger',
      dedup_key: 'incident-4',
    });
  });

  it('sends a release as a change event', async () => {
    const channel = new PagerDutyChannel({
      routingKey: ROUTING_KEY,
      url: `${receiver.url}/`,
      timeoutMs: 5000,
    });
    const result = await channel.send(
      {
        event: 'release.succeeded',
        title: 'web 1.4.2 released',
        text: 'from 1.4.1',
        severity: 'info',
        service: 'web',
        url: 'https://shipcheck.example.com/releases/9',
        release: { id: 9, version: '1.4.2', fromVersion: '1.4.1', state: 'succeeded' },
      },
      { id: 'r', at: AT },
    );
    expect(result).toMatchObject({ delivered: true });
    expect(receiver.received[0]!.path).toBe('/v2/change/enqueue');
    expect(JSON.parse(receiver.received[0]!.body)).toEqual({
      routing_key: ROUTING_KEY,
      payload: {
        summary: 'web 1.4.2 released: from 1.4.1',
        timestamp: '2026-12-06T10:00:00.000Z',
        source: 'web',
        custom_details: {
          event: 'release.succeeded',
          release: { id: 9, version: '1.4.2', fromVersion: '1.4.1', state: 'succeeded' },
        },
      },
      links: [{ href: 'https://shipcheck.example.com/releases/9', text: 'Open in shipcheck' }],
    });
  });

  it('sends a test notice as a change event, which pages nobody', async () => {
    const channel = new PagerDutyChannel({ routingKey: ROUTING_KEY, url: receiver.url, timeoutMs: 5000 });
    const test: Notice = {
      event: 'test',
      title: 'shipcheck test notification',
      text: 'hello',
      severity: 'info',
    };
    expect(await channel.send(test, { id: 't', at: AT })).toMatchObject({ delivered: true });
    expect(receiver.received[0]!.path).toBe('/v2/change/enqueue');
    expect(JSON.parse(receiver.received[0]!.body)).toMatchObject({
      payload: {
        summary: 'shipcheck test notification: hello',
        source: 'shipcheck',
        custom_details: { event: 'test' },
      },
    });
  });

  it("carries PagerDuty's answer to a wrong routing key", async () => {
    const channel = new PagerDutyChannel({ routingKey: 'wrong', url: receiver.url, timeoutMs: 5000 });
    expect(await channel.send(incident('incident.triggered'), { id: 'w', at: AT })).toEqual({
      delivered: false,
      status: 400,
      error: 'HTTP 400: {"status":"invalid event","message":"Invalid routing key"}',
    });
  });
});

runNotifyChannelContract('pagerduty', async () => {
  const peer = await httpContractPeer(REFUSAL, 202);
  return {
    channel: new PagerDutyChannel({ routingKey: ROUTING_KEY, url: peer.url, timeoutMs: 5000 }),
    unreachable: new PagerDutyChannel({ routingKey: ROUTING_KEY, url: await closedUrl(), timeoutMs: 5000 }),
    peer,
    secret: ROUTING_KEY,
  };
});
