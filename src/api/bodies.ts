// Every body the API takes, in one place: each is a JSON object whose fields are checked for type
// and length, and a field the route does not know is refused rather than silently ignored.
import { z } from 'zod';
import { closest } from '../config/yaml-positions.js';
import { checkVersion } from '../domain/version.js';
import { InputError } from '../errors.js';
import { parseGrant } from '../security/roles.js';

/** Largest request body the API reads; the Alertmanager webhook has its own, larger limit. */
export const API_BODY_LIMIT_BYTES = 64 * 1024;
/** Longest sign-off note or waiver reason. */
export const MAX_NOTE_CHARS = 2000;
/** Longest user, token or group name. */
export const MAX_NAME_CHARS = 100;
/** Longest checklist item id (template ids are `section-slug/title-slug`). */
export const MAX_ITEM_ID_CHARS = 256;
/** Problems listed in one 400 answer. */
const ISSUE_LIMIT = 5;
/** Longest piece of the caller's input quoted back in a message. */
const QUOTE_CHARS = 40;
/** Control characters: C0 (below a space), DEL, and C1. */
const C0_END = 0x20;
const DEL = 0x7f;
const C1_END = 0x9f;
/** Tab, line feed and carriage return: the control characters free text may hold. */
const LINE_CONTROLS: ReadonlySet<number> = new Set([0x09, 0x0a, 0x0d]);
/** Marks a custom issue whose message is a whole sentence that already names the field. */
const WHOLE = { whole: true };

/**
 * A check that refuses control characters: names are one line and take none; free text
 * (`lines: true`) keeps tabs and line breaks, but nothing that drives a terminal (escape sequences).
 */
function noControls({ lines }: { lines: boolean }) {
  return (value: string, ctx: z.RefinementCtx): void => {
    for (const char of value) {
      const code = char.charCodeAt(0);
      const control = code < C0_END || (code >= DEL && code <= C1_END);
      if (!control || (lines && LINE_CONTROLS.has(code))) continue;
      const hex = code.toString(16).toUpperCase().padStart(4, '0');
      ctx.addIssue({ code: 'custom', message: `control character U+${hex} is not allowed` });
      return;
    }
  };
}

const version = z.string().superRefine((value, ctx) => {
  const problem = checkVersion(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem, params: WHOLE });
});
const item = z
  .string()
  .min(1)
  .max(MAX_ITEM_ID_CHARS)
  .superRefine(noControls({ lines: false }));
const note = z
  .string()
  .max(MAX_NOTE_CHARS)
  .superRefine(noControls({ lines: true }))
  .optional();
const reason = z
  .string()
  .max(MAX_NOTE_CHARS)
  .superRefine(noControls({ lines: true }))
  .refine((text) => text.trim() !== '', 'must say why the item need not pass');

const name = z
  .string()
  .min(1)
  .max(MAX_NAME_CHARS)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, 'a name uses letters, digits, dots, dashes, underscores and @');
/** A password or code: not trimmed, not quoted back in errors. */
const secretText = z.string().min(1).max(1024);
/** A TOTP code or a recovery code. */
const code = z.string().min(6).max(32);
const email = z
  .string()
  .max(254)
  .regex(/^[^\s@]+@[^\s@]+$/, 'an email address such as alice@example.com');
/** `admin`, `deployer@production` */
const grant = z.string().superRefine((value, ctx) => {
  const parsed = parseGrant(value);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed, params: WHOLE });
});

/** The body of each route that takes one; routes with nothing to say take `{}`. */
export const Bodies = {
  /** `POST /services/:service/releases` */
  deploy: z.strictObject({ version }),
  /** `POST /services/:service/promote` */
  promote: z.strictObject({ full: z.boolean().optional() }),
  /** `pause`, `resume`, `abort`, `rollback`: nothing to say. */
  none: z.strictObject({}),
  /** `POST /services/:service/checklist/sign` */
  sign: z.strictObject({ item, note }),
  /** `POST /services/:service/checklist/sign-gate` */
  signGate: z.strictObject({ note }),
  /** `POST /services/:service/checklist/waive` */
  waive: z.strictObject({ item, reason }),
  /** `POST /services/:service/checklist/rerun` */
  rerun: z.strictObject({ item }),
  /** `POST /login` */
  login: z.strictObject({ name, password: secretText, otp: code.optional() }),
  /** `POST /setup`: the first admin, with the code `shipcheck up` printed. */
  setup: z.strictObject({ code: secretText, name, email: email.optional(), password: secretText }),
  /** `POST /users` */
  addUser: z.strictObject({
    name,
    email: email.optional(),
    password: secretText.optional(),
    roles: z.array(grant).min(1).max(50),
    groups: z.array(name).max(50).optional(),
  }),
  /** `POST /users/:name/roles`: replaces the user's roles, and groups when given. */
  userRoles: z.strictObject({
    roles: z.array(grant).min(1).max(50),
    groups: z.array(name).max(50).optional(),
  }),
  /** `POST /users/:name/password` */
  password: z.strictObject({ password: secretText }),
  /** `POST /tokens` */
  createToken: z.strictObject({
    name,
    role: grant,
    expiresIn: z
      .string()
      .regex(/^\d+(h|d)$/, 'expected a lifetime such as 12h, 30d or 365d')
      .optional(),
  }),
  /** `POST /oncall/schedules/:name/overrides`: times are ISO, local to the schedule's zone unless they carry an offset. */
  oncallOverride: z.strictObject({
    user: name,
    from: z.string().min(1).max(64),
    to: z.string().min(1).max(64),
    reason: note,
  }),
  /** `POST /audit/archive`: the last entry written to the archive file. */
  archive: z.strictObject({
    throughSeq: z.int().positive(),
    hash: z.string().regex(/^[0-9a-f]{64}$/, "the entry's sha256, 64 hex digits"),
  }),
  /** `POST /me/mfa/confirm`, `POST /me/mfa/verify` */
  code: z.strictObject({ code }),
} as const;

/** Parses a request body; InputError naming each bad field (`note: at most 2000 characters, got 2001`). */
export function parseBody<S extends z.ZodObject>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body, { reportInput: true });
  if (parsed.success) return parsed.data;
  const fields = Object.keys(schema.shape);
  // A field the body already has is no guess for a misspelt one.
  const given = body !== null && typeof body === 'object' ? Object.keys(body) : [];
  const guesses = fields.filter((field) => !given.includes(field));
  // Unknown fields first: a misspelt field also shows up as the real one missing, which follows.
  const issues = [...parsed.error.issues].sort(
    (a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'),
  );
  const problems = issues.flatMap((issue) => describe(issue, fields, guesses));
  const more = problems.length > ISSUE_LIMIT ? `; and ${problems.length - ISSUE_LIMIT} more` : '';
  throw new InputError(problems.slice(0, ISSUE_LIMIT).join('; ') + more);
}

function describe(issue: z.core.$ZodIssue, fields: readonly string[], guesses: readonly string[]): string[] {
  const at = issue.path.map(String).join('.');
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'unrecognized_keys':
      return unknownFields(issue.keys, fields, guesses);
    case 'invalid_type':
      if (at === '') return [`body must be a JSON object${takes(fields)}; got ${typeName(input)}`];
      if (input === undefined) return [`${at}: required`];
      return [`${at}: expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${typeName(input)}`];
    case 'too_big':
      if (issue.origin === 'string')
        return [
          `${at}: at most ${issue.maximum} characters${typeof input === 'string' ? `, got ${input.length}` : ''}`,
        ];
      if (issue.origin === 'array') return [`${at}: at most ${issue.maximum} entries`];
      return [
        `${at}: must be ${issue.inclusive === false ? 'less than' : 'at most'} ${issue.maximum}${got(input)}`,
      ];
    case 'too_small':
      if ((issue.origin === 'string' || issue.origin === 'array') && Number(issue.minimum) <= 1)
        return [`${at}: must not be empty`];
      if (issue.origin === 'string') return [`${at}: at least ${issue.minimum} characters`];
      if (issue.origin === 'array') return [`${at}: at least ${issue.minimum} entries`];
      return [
        `${at}: must be ${issue.inclusive === false ? 'more than' : 'at least'} ${issue.minimum}${got(input)}`,
      ];
    case 'custom':
      return [issue.params?.whole === true || at === '' ? issue.message : `${at}: ${issue.message}`];
    default:
      return [at === '' ? issue.message : `${at}: ${issue.message}`];
  }
}

/** `, got 0` for a number the body gave. */
function got(input: unknown): string {
  return typeof input === 'number' ? `, got ${input}` : '';
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  boolean: 'true or false',
  object: 'a JSON object',
};

/** `unknown field "versoin"; did you mean "version"?`, and the rest together with what the route takes. */
function unknownFields(
  keys: readonly string[],
  fields: readonly string[],
  guesses: readonly string[],
): string[] {
  const messages: string[] = [];
  const unexplained: string[] = [];
  for (const key of keys) {
    const guess = closest(key, guesses);
    if (guess) messages.push(`unknown field ${quote(key)}; did you mean "${guess}"?`);
    else unexplained.push(quote(key));
  }
  if (unexplained.length > 0) {
    const noun = unexplained.length === 1 ? 'field' : 'fields';
    messages.push(`unknown ${noun} ${unexplained.join(', ')}${takes(fields)}`);
  }
  return messages;
}

function takes(fields: readonly string[]): string {
  return fields.length === 0
    ? ' (this route takes no fields: send {})'
    : ` (this route takes ${fields.join(', ')})`;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${quote(value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/** The caller's text quoted back, shortened: a message must not echo a huge key or value whole. */
function quote(text: string): string {
  const short = text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS - 1)}…` : text;
  return JSON.stringify(short);
}

/** What is wrong with a mutating request's Content-Type header, or undefined for JSON in UTF-8. */
export function jsonContentTypeProblem(header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === '') return 'no content-type was sent';
  const [type = '', ...params] = header.split(';');
  if (type.trim().toLowerCase() !== 'application/json') return `got content-type ${quote(header.trim())}`;
  for (const param of params) {
    if (param.trim() === '') continue;
    const [name = '', value = ''] = param.split('=');
    const unquoted = value.trim().replace(/^"(.*)"$/, '$1');
    if (name.trim().toLowerCase() !== 'charset' || unquoted.toLowerCase() !== 'utf-8')
      return `got content-type ${quote(header.trim())}; the only parameter accepted is charset=utf-8`;
  }
  return undefined;
}
