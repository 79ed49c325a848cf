/**
 * `shipcheck user contact ...`: a user's contact methods (email, webhook, slack, pagerduty), which
 * notifications to the user reach. Through the API: each person manages their own, an admin anyone's.
 * The address, URL or key is sealed in the store; only a safe part of it is ever shown.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import type { ContactMethodView } from '../../comms/contact-methods.js';
import type { ApiShape } from '../api-shapes.js';
import { type LoginOptions, signIn } from '../sign-in.js';
import { formatTable, formatTime } from '../table.js';
import type { GlobalOptions, Io } from '../target.js';
import type { CommandDeps } from '../target.js';

const method = z.looseObject({
  id: z.number().int().positive(),
  type: z.string(),
  shown: z.string(),
  disabled: z.boolean(),
  disabledReason: z.string().nullable(),
  createdAt: z.number(),
});
const methodShape: ApiShape<ContactMethodView> = { what: 'a contact method', schema: method };
const methodsShape: ApiShape<{ contactMethods: ContactMethodView[] }> = {
  what: 'contact methods',
  schema: z.looseObject({ contactMethods: z.array(method) }),
};

type Options = GlobalOptions & LoginOptions;

function pathOf(user: string): string {
  return `/api/v1/users/${encodeURIComponent(user)}/contact-methods`;
}

/** `shipcheck user contact add USER TYPE VALUE [--secret whsec_...] [--url URL]`. */
export async function userContactAddCommand(
  user: string,
  type: string,
  value: string,
  opts: Options & { secret?: string; url?: string },
  io: Io,
): Promise<number> {
  const { client, end } = await signIn(opts, opts);
  try {
    const body = {
      type,
      value,
      ...(opts.secret !== undefined ? { secret: opts.secret } : {}),
      ...(opts.url !== undefined ? { url: opts.url } : {}),
    };
    const added = await client.post(pathOf(user), body, methodShape);
    io.out(
      opts.json
        ? JSON.stringify(added, null, 2)
        : `added contact method ${added.id} of ${user}: ${added.type} ${added.shown}`,
    );
    return 0;
  } finally {
    await end();
  }
}

/** `shipcheck user contact list USER`. */
export async function userContactListCommand(user: string, opts: Options, io: Io): Promise<number> {
  const { client, end } = await signIn(opts, opts);
  try {
    const { contactMethods } = await client.get(pathOf(user), methodsShape);
    if (opts.json) {
      io.out(JSON.stringify({ contactMethods }, null, 2));
      return 0;
    }
    if (contactMethods.length === 0) {
      io.out(`${user} has no contact method`);
      return 0;
    }
    const rows = contactMethods.map((m) => [
      String(m.id),
      m.type,
      m.shown,
      m.disabled ? `disabled: ${m.disabledReason ?? ''}` : 'enabled',
      formatTime(m.createdAt),
    ]);
    formatTable(['ID', 'TYPE', 'TARGET', 'STATE', 'ADDED'], rows).forEach((line) => io.out(line));
    return 0;
  } finally {
    await end();
  }
}

/** `shipcheck user contact remove USER ID`. */
export async function userContactRemoveCommand(
  user: string,
  id: string,
  opts: Options,
  io: Io,
): Promise<number> {
  const { client, end } = await signIn(opts, opts);
  try {
    const removed = await client.post(`${pathOf(user)}/${encodeURIComponent(id)}/remove`, {}, methodShape);
    io.out(
      opts.json
        ? JSON.stringify(removed, null, 2)
        : `removed contact method ${removed.id} of ${user} (${removed.type} ${removed.shown})`,
    );
    return 0;
  } finally {
    await end();
  }
}

/** Adds `contact add|list|remove` under `shipcheck user`. */
export function registerUserContactCommands(user: Command, deps: CommandDeps): void {
  const { io, globals, run, withLogin } = deps;
  const contact = user
    .command('contact')
    .description("a user's contact methods (email, webhook, slack, pagerduty): add, list, remove");
  withLogin(
    contact
      .command('add <user> <type> <value>')
      .description('add a contact method: email ADDRESS, webhook URL, slack URL or pagerduty ROUTING_KEY')
      .option('--secret <whsec>', 'webhook: a Standard Webhooks signing secret (whsec_...)')
      .option('--url <url>', 'pagerduty: the Events API URL (default https://events.pagerduty.com)'),
  ).action(
    run(
      async (
        name: string,
        type: string,
        value: string,
        o: LoginOptions & { secret?: string; url?: string },
      ) => userContactAddCommand(name, type, value, { ...globals(), ...o }, io),
    ),
  );
  withLogin(contact.command('list <user>').description("the user's contact methods")).action(
    run(async (name: string, o: LoginOptions) => userContactListCommand(name, { ...globals(), ...o }, io)),
  );
  withLogin(
    contact.command('remove <user> <id>').description('remove a contact method by the ID list shows'),
  ).action(
    run(async (name: string, id: string, o: LoginOptions) =>
      userContactRemoveCommand(name, id, { ...globals(), ...o }, io),
    ),
  );
}
