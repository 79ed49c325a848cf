import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Session, createFirstAdmin, login, withSession } from '../../test/support/auth.js';
import { type SecuredApi, startSecuredApi } from '../../test/support/secured-api.js';
import type { Incident, TimelineEntry } from '../comms/incidents/types.js';

const PASSWORD = 'incident routes password';

/** What the incident routes answer, whichever of these fields the route fills. */
interface Answer {
  status: number;
  json: { incident: Incident; incidents: Incident[]; timeline: TimelineEntry[]; error: string };
}

describe('incident routes, signed in', () => {
  let api: SecuredApi;
  let root: Session;
  let dana: Session;
  let vic: Session;
  let sam: Session;

  /** Calls the API as `session`; answers the status and the JSON body. */
  const call = async (
    session: Session,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<Answer> => {
    const response = await fetch(`${api.url}${path}`, {
      method,
      headers: method === 'POST' ? withSession(session) : { cookie: session.cookie },
      ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}),
    });
    return { status: response.status, json: (await response.json()) as Answer['json'] };
  };

  beforeAll(async () => {
    api = await startSecuredApi();
    root = await createFirstAdmin(api.url, api.security.setup.code!, 'root');
    for (const [name, roles] of [
      ['dana', ['deployer']],
      ['vic', ['viewer']],
      ['sam', ['deployer@staging', 'viewer@staging']],
    ] as const) {
      const made = await call(root, 'POST', '/api/v1/users', { name, password: PASSWORD, roles });
      expect(made.status).toBe(201);
    }
    dana = await login(api.url, 'dana', PASSWORD);
    vic = await login(api.url, 'vic', PASSWORD);
    sam = await login(api.url, 'sam', PASSWORD);
  });
  afterAll(async () => api.close());

  it('opens, acknowledges, notes, resolves and keeps a postmortem, naming the signed-in person', async () => {
    const opened = await call(dana, 'POST', '/api/v1/incidents', {
      title: 'Checkout fails',
      severity: 'critical',
      service: 'web@production',
      public: true,
    });
    expect(opened.status).toBe(201);
    const incident = opened.json.incident as Incident;
    expect(incident).toMatchObject({
      title: 'Checkout fails',
      severity: 'critical',
      state: 'triggered',
      source: 'manual',
      service: 'web@production',
      public: true,
    });
    expect(incident.key).toMatch(/^manual:/);
    const id = incident.id;

    const acked = await call(dana, 'POST', `/api/v1/incidents/${id}/ack`, { message: 'on it' });
    expect(acked.status).toBe(200);
    expect(acked.json.incident).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'dana' });
    const noted = await call(dana, 'POST', `/api/v1/incidents/${id}/update`, {
      message: 'rolled back the payment client',
      severity: 'error',
      public: false,
    });
    expect(noted.json.incident).toMatchObject({ severity: 'error', public: false });
    const resolved = await call(root, 'POST', `/api/v1/incidents/${id}/resolve`, {});
    expect(resolved.json.incident).toMatchObject({ state: 'resolved', resolvedBy: 'root' });
    const pm = await call(dana, 'POST', `/api/v1/incidents/${id}/postmortem`, { text: 'A bad config.' });
    expect(pm.json.incident.postmortem).toBe('A bad config.');

    const shown = await call(vic, 'GET', `/api/v1/incidents/${id}`);
    expect(shown.status).toBe(200);
    expect((shown.json.timeline as TimelineEntry[]).map((e) => [e.kind, e.actor, e.message])).toEqual([
      ['triggered', 'dana', 'opened: Checkout fails'],
      ['acknowledged', 'dana', 'on it'],
      ['note', 'dana', 'rolled back the payment client'],
      ['resolved', 'root', 'resolved by root'],
      ['postmortem', 'dana', 'A bad config.'],
    ]);
  });

  it('lists newest first, filtered by state and service', async () => {
    const a = (await call(dana, 'POST', '/api/v1/incidents', { title: 'A', service: 'api' })).json.incident;
    const b = (await call(dana, 'POST', '/api/v1/incidents', { title: 'B' })).json.incident;
    const all = await call(vic, 'GET', '/api/v1/incidents');
    expect(all.status).toBe(200);
    const ids = (all.json.incidents as Incident[]).map((i) => i.id);
    expect(ids.slice(0, 2)).toEqual([b.id, a.id]);
    const ofApi = await call(vic, 'GET', '/api/v1/incidents?service=api&state=triggered');
    expect((ofApi.json.incidents as Incident[]).map((i) => i.id)).toEqual([a.id]);
    expect((await call(vic, 'GET', '/api/v1/incidents?limit=1')).json.incidents).toHaveLength(1);
    expect((await call(vic, 'GET', '/api/v1/incidents?state=open')).status).toBe(400);
  });

  it('answers 404 for an unknown id, 409 for acknowledging a resolved incident, 400 for bad input', async () => {
    expect(await call(dana, 'POST', '/api/v1/incidents/999/ack', {})).toEqual({
      status: 404,
      json: { error: 'incident #999 not found' },
    });
    expect((await call(vic, 'GET', '/api/v1/incidents/abc')).status).toBe(400);
    const { id } = (await call(dana, 'POST', '/api/v1/incidents', { title: 'Short' })).json.incident;
    await call(dana, 'POST', `/api/v1/incidents/${id}/resolve`, {});
    expect(await call(dana, 'POST', `/api/v1/incidents/${id}/ack`, {})).toEqual({
      status: 409,
      json: { error: `incident #${id} is resolved; it cannot be acknowledged` },
    });
    const bad = await call(dana, 'POST', '/api/v1/incidents', { title: 'X', severity: 'sev1' });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/^severity: expected one of critical, error, warning, info/);
    expect((await call(dana, 'POST', '/api/v1/incidents', { titel: 'X' })).status).toBe(400);
    expect((await call(dana, 'POST', `/api/v1/incidents/${id}/update`, { message: '' })).status).toBe(400);
    const policy = await call(dana, 'POST', '/api/v1/incidents', { title: 'X', policy: 'nope' });
    expect(policy.status).toBe(400);
    expect(policy.json.error).toMatch(/^escalation policy "nope" is not configured/);
  });

  it("lets a viewer read but not change, and keeps a unit's incidents to those with a role in its environment", async () => {
    const { id } = (
      await call(dana, 'POST', '/api/v1/incidents', { title: 'Prod down', service: 'web@production' })
    ).json.incident;
    expect((await call(vic, 'POST', `/api/v1/incidents/${id}/ack`, {})).status).toBe(403);
    expect((await call(vic, 'POST', '/api/v1/incidents', { title: 'Mine' })).status).toBe(403);
    // sam deploys to staging only: production's incident is not there for them.
    expect((await call(sam, 'GET', `/api/v1/incidents/${id}`)).status).toBe(404);
    const listed = (await call(sam, 'GET', '/api/v1/incidents')).json.incidents as Incident[];
    expect(listed.map((i) => i.service)).not.toContain('web@production');
    expect(
      (await call(sam, 'POST', '/api/v1/incidents', { title: 'X', service: 'web@production' })).status,
    ).toBe(403);
    const staging = await call(sam, 'POST', '/api/v1/incidents', {
      title: 'Staging slow',
      service: 'web@staging',
    });
    expect(staging.status).toBe(201);
    expect((await call(sam, 'POST', `/api/v1/incidents/${staging.json.incident.id}/ack`, {})).status).toBe(
      200,
    );
  });
});
