/**
 * The notification routes: the installation's channels (list, test, enable), the delivery log
 * (list, one, retry, summary), and users' contact methods. Reading is for viewers; sending a test,
 * retrying and enabling change what goes out, so they need a deployer. Each person manages their
 * own contact methods; an admin manages anyone's.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { contactTargetOf, type ContactMethodView } from '../comms/contact-methods.js';
import type { NotificationDispatcher } from '../comms/notification-dispatcher.js';
import { ForbiddenError, InputError, NotFoundError } from '../errors.js';
import { roleAtLeast } from '../security/roles.js';
import type { NotificationRow, NotificationState } from '../store/notification-store.js';
import type { UserRow } from '../store/security-store.js';
import type { Store } from '../store/types.js';
import { withAccess } from './access.js';
import { Bodies, parseBody } from './bodies.js';

/** Log entries one request returns by default and at most. */
const DEFAULT_LOG_LIMIT = 50;
const MAX_LOG_LIMIT = 500;
/** HTTP 502: the channel's server refused or failed a test notice. */
const BAD_GATEWAY = 502;
const STATES: readonly NotificationState[] = ['pending', 'delivered', 'failed'];

/** A channel as `GET /api/v1/channels` shows it. */
export interface ChannelView {
  name: string;
  type: string;
  /** Where it sends, without secrets: a host, an SMTP server and its recipients. */
  target: string;
  disabled: boolean;
  disabledReason: string | null;
  disabledAt: number | null;
}

/** A delivery log entry as the API shows it. */
export type NotificationView = NotificationRow;

/** What `GET /api/v1/notifications/summary` answers. */
export interface NotificationSummary {
  pending: number;
  failed: number;
  disabledChannels: { name: string; reason: string; at: number }[];
}

const addContactBody = z.strictObject({
  type: z.string().min(1),
  value: z.string().min(1),
  secret: z.string().min(1).optional(),
  url: z.string().min(1).optional(),
});

function positiveId(what: string, raw: string): number {
  const id = Number(raw);
  if (!Number.isInteger(id) || id <= 0) throw new InputError(`${what} "${raw}" is not a positive integer`);
  return id;
}

/** Registers the notification and contact-method routes. */
export function registerNotificationRoutes(
  app: FastifyInstance,
  options: { store: Store; notifications: NotificationDispatcher | undefined; now: () => number },
): void {
  const { store, now } = options;
  const log = store.notifications;
  const dispatcher = (): NotificationDispatcher => {
    if (!options.notifications)
      throw new NotFoundError('this server sends no notifications (no channels: in the control-plane file)');
    return options.notifications;
  };
  const channelViews = async (): Promise<ChannelView[]> => {
    const disabled = new Map((await log.disabledChannels()).map((c) => [c.name, c]));
    const notifications = options.notifications;
    if (!notifications) return [];
    return notifications.channels.map((config) => {
      const off = disabled.get(config.name);
      return {
        name: config.name,
        type: config.type,
        target: notifications.channel(config.name).target,
        disabled: off !== undefined,
        disabledReason: off?.reason ?? null,
        disabledAt: off?.at ?? null,
      };
    });
  };

  app.get('/api/v1/channels', withAccess('viewer'), async () => ({ channels: await channelViews() }));

  app.post<{ Params: { name: string }; Body: unknown }>(
    '/api/v1/channels/:name/test',
    withAccess('deployer', { action: 'channel.test' }),
    async (request, reply) => {
      parseBody(Bodies.none, request.body ?? {});
      const { name } = request.params;
      const outcome = await dispatcher().sendTest(name);
      if (outcome.delivered) return { delivered: true, notification: outcome.notification };
      // The channel's server refused: a bad gateway, with its answer (the error handler hides 5xx messages).
      const error = `channel ${name}: ${outcome.error ?? 'not delivered'}`;
      request.auditReason = error;
      return reply.status(BAD_GATEWAY).send({ error, notification: outcome.notification.id });
    },
  );

  app.post<{ Params: { name: string }; Body: unknown }>(
    '/api/v1/channels/:name/enable',
    withAccess('deployer', { action: 'channel.enable' }),
    async (request) => {
      parseBody(Bodies.none, request.body ?? {});
      await dispatcher().enable(request.params.name);
      const channel = (await channelViews()).find((c) => c.name === request.params.name);
      return channel;
    },
  );

  app.get<{ Querystring: { channel?: string; state?: string; before?: string; limit?: string } }>(
    '/api/v1/notifications',
    withAccess('viewer'),
    async (request) => {
      const { channel, state, before, limit } = request.query;
      if (state !== undefined && !STATES.includes(state as NotificationState))
        throw new InputError(`state "${state}": expected one of ${STATES.join(', ')}`);
      let count = DEFAULT_LOG_LIMIT;
      if (limit !== undefined) {
        count = Number(limit);
        if (!Number.isInteger(count) || count <= 0 || count > MAX_LOG_LIMIT)
          throw new InputError(`limit "${limit}" is not a whole number from 1 to ${MAX_LOG_LIMIT}`);
      }
      const notifications = await log.list({
        ...(channel !== undefined && channel !== '' ? { channel } : {}),
        ...(state !== undefined ? { state: state as NotificationState } : {}),
        ...(before !== undefined ? { beforeId: positiveId('before', before) } : {}),
        limit: count,
      });
      return { notifications };
    },
  );

  app.get('/api/v1/notifications/summary', withAccess('viewer'), async (): Promise<NotificationSummary> => {
    const counts = await log.counts();
    const disabled = await log.disabledChannels();
    return { ...counts, disabledChannels: disabled.map(({ name, reason, at }) => ({ name, reason, at })) };
  });

  app.get<{ Params: { id: string } }>('/api/v1/notifications/:id', withAccess('viewer'), async (request) => {
    const id = positiveId('notification id', request.params.id);
    const row = await log.get(id);
    if (!row) throw new NotFoundError(`no notification ${id}`);
    return row;
  });

  app.post<{ Params: { id: string }; Body: unknown }>(
    '/api/v1/notifications/:id/retry',
    withAccess('deployer', { action: 'notification.retry' }),
    async (request) => {
      parseBody(Bodies.none, request.body ?? {});
      const id = positiveId('notification id', request.params.id);
      const row = await log.get(id);
      if (!row) throw new NotFoundError(`no notification ${id}`);
      if (row.state !== 'failed')
        throw new InputError(`notification ${id} is ${row.state}; only a failed one is retried`);
      await log.retry(id, now());
      options.notifications?.kick();
      return (await log.get(id))!;
    },
  );

  // Contact methods: a person's own, or anyone's for an admin.
  const ownerOf = async (request: FastifyRequest<{ Params: { name: string } }>): Promise<UserRow> => {
    const principal = request.principal;
    const role = principal?.roleIn(undefined);
    const admin = role !== undefined && roleAtLeast(role, 'admin');
    if (!admin && principal?.user?.name !== request.params.name)
      throw new ForbiddenError("managing another user's contact methods needs the admin role");
    const user = await store.security.getUserByName(request.params.name);
    if (!user) throw new NotFoundError(`no user "${request.params.name}"`);
    return user;
  };
  const contacts = () => {
    const methods = options.notifications?.contactMethods;
    if (!methods) throw new NotFoundError('contact methods need the installation key ring (shipcheck up)');
    return methods;
  };

  app.get<{ Params: { name: string } }>(
    '/api/v1/users/:name/contact-methods',
    withAccess('signed-in'),
    async (request): Promise<{ contactMethods: ContactMethodView[] }> => {
      const user = await ownerOf(request);
      return { contactMethods: await contacts().list(user.id) };
    },
  );

  app.post<{ Params: { name: string }; Body: unknown }>(
    '/api/v1/users/:name/contact-methods',
    withAccess('signed-in', { action: 'contact-method.add' }),
    async (request, reply) => {
      const body = parseBody(addContactBody, request.body);
      const user = await ownerOf(request);
      const target = contactTargetOf(body.type, body.value, { secret: body.secret, url: body.url });
      return reply.status(201).send(await contacts().add(user.id, target, now()));
    },
  );

  app.post<{ Params: { name: string; id: string }; Body: unknown }>(
    '/api/v1/users/:name/contact-methods/:id/remove',
    withAccess('signed-in', { action: 'contact-method.remove' }),
    async (request) => {
      parseBody(Bodies.none, request.body ?? {});
      const user = await ownerOf(request);
      return contacts().remove(user.id, positiveId('contact method id', request.params.id));
    },
  );

  app.post<{ Params: { name: string; id: string }; Body: unknown }>(
    '/api/v1/users/:name/contact-methods/:id/enable',
    withAccess('signed-in', { action: 'contact-method.enable' }),
    async (request) => {
      parseBody(Bodies.none, request.body ?? {});
      const user = await ownerOf(request);
      return contacts().enable(user.id, positiveId('contact method id', request.params.id));
    },
  );
}
