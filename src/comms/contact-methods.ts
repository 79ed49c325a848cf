/**
 * Users' contact methods: how a `{user}` notification reaches a person. The address, URL or key is
 * sealed (AES-256-GCM under the installation's key ring) and bound to its user and id, so a sealed
 * value copied to another row does not open; only what may be shown is kept in the clear.
 */
import { InputError, NotFoundError } from '../errors.js';
import type { ContactTarget } from '../providers/notify/create-channel.js';
import { hostOf } from '../providers/notify/http-post.js';
import type { Sealer } from '../security/sealed-params.js';
import {
  CONTACT_METHOD_TYPES,
  type ContactMethodRow,
  type ContactMethodType,
} from '../store/contact-method-store.js';
import type { NotificationStore } from '../store/notification-store.js';

const EMAIL = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;
const WHSEC = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/** What a contact method's sealed value is bound to: its user and its id. */
export function contactMethodAad(userId: number, id: number): string {
  return `contact-method:${userId}:${id}`;
}

/** A contact method as the API shows it: never the sealed value, nor a secret. */
export interface ContactMethodView {
  id: number;
  type: ContactMethodType;
  /** The email address; a URL's host; `routing key ***` and the Events API host. */
  shown: string;
  disabled: boolean;
  disabledReason: string | null;
  createdAt: number;
}

/** The view of a stored method. */
export function contactMethodView(row: ContactMethodRow): ContactMethodView {
  return {
    id: row.id,
    type: row.type,
    shown: row.shown,
    disabled: row.disabledAt !== null,
    disabledReason: row.disabledReason,
    createdAt: row.createdAt,
  };
}

function httpUrl(what: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InputError(`${what}: "${hostOf(value)}" is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InputError(`${what}: expected an http:// or https:// URL`);
  return value;
}

/**
 * The target a user asked for: `type` and its value (an address, a URL, a routing key), with a
 * webhook's signing secret or PagerDuty's Events API URL. InputError when one does not fit.
 */
export function contactTargetOf(
  type: string,
  value: string,
  extra: { secret?: string | undefined; url?: string | undefined } = {},
): ContactTarget {
  if (!(CONTACT_METHOD_TYPES as readonly string[]).includes(type))
    throw new InputError(`contact method type "${type}": expected one of ${CONTACT_METHOD_TYPES.join(', ')}`);
  if (extra.secret !== undefined && type !== 'webhook')
    throw new InputError('secret: only a webhook contact method is signed');
  if (extra.url !== undefined && type !== 'pagerduty')
    throw new InputError(
      'url: only a pagerduty contact method takes an Events API URL; give the URL as the value',
    );
  switch (type as ContactMethodType) {
    case 'email':
      if (!EMAIL.test(value)) throw new InputError(`email: "${value}" is not an email address`);
      return { type: 'email', address: value };
    case 'webhook':
      if (extra.secret !== undefined && !WHSEC.test(extra.secret))
        throw new InputError('secret: expected a Standard Webhooks secret, whsec_ and base64');
      return {
        type: 'webhook',
        url: httpUrl('webhook', value),
        ...(extra.secret !== undefined ? { secret: extra.secret } : {}),
      };
    case 'slack':
      return { type: 'slack', url: httpUrl('slack', value) };
    case 'pagerduty':
      if (value.trim() === '') throw new InputError('pagerduty: give the routing key');
      return {
        type: 'pagerduty',
        routingKey: value,
        ...(extra.url !== undefined ? { url: httpUrl('url', extra.url) } : {}),
      };
  }
}

/** What may be shown of a target. */
export function shownOf(target: ContactTarget): string {
  switch (target.type) {
    case 'email':
      return target.address;
    case 'webhook':
      return `${hostOf(target.url)}${target.secret !== undefined ? ' (signed)' : ''}`;
    case 'slack':
      return hostOf(target.url);
    case 'pagerduty':
      return `routing key *** at ${hostOf(target.url ?? 'https://events.pagerduty.com')}`;
  }
}

/** Adds, lists, opens and removes users' contact methods, sealing their values. */
export class ContactMethods {
  constructor(
    private readonly store: NotificationStore,
    private readonly sealer: Sealer,
  ) {}

  /** Adds a method for a user. */
  async add(userId: number, target: ContactTarget, at: number): Promise<ContactMethodView> {
    const row = await this.store.contacts.add(
      { userId, type: target.type, shown: shownOf(target) },
      (id) => this.sealer.seal(JSON.stringify(target), contactMethodAad(userId, id)),
      at,
    );
    return contactMethodView(row);
  }

  /** A user's methods, oldest first. */
  async list(userId: number): Promise<ContactMethodView[]> {
    return (await this.store.contacts.list(userId)).map(contactMethodView);
  }

  /** Removes one of a user's methods; NotFoundError when the user has no such method. */
  async remove(userId: number, id: number): Promise<ContactMethodView> {
    const row = await this.store.contacts.get(id);
    if (!row || row.userId !== userId) throw new NotFoundError(`no contact method ${id} of this user`);
    await this.store.contacts.remove(id);
    return contactMethodView(row);
  }

  /** Enables a method a 410 disabled; NotFoundError when the user has no such method. */
  async enable(userId: number, id: number): Promise<ContactMethodView> {
    const row = await this.store.contacts.get(id);
    if (!row || row.userId !== userId) throw new NotFoundError(`no contact method ${id} of this user`);
    await this.store.contacts.setDisabled(id, null);
    return contactMethodView({ ...row, disabledAt: null, disabledReason: null });
  }

  /** The plain target of a stored method (for sending only). */
  open(row: ContactMethodRow): ContactTarget {
    return JSON.parse(this.sealer.open(row.sealed, contactMethodAad(row.userId, row.id))) as ContactTarget;
  }
}
