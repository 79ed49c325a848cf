/** Base for the errors shipcheck raises on purpose; anything else is a bug. */
export class ShipcheckError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = this.constructor.name;
  }
}

/** The caller gave something invalid: bad config, bad flag, bad API body. */
export class InputError extends ShipcheckError {}

/** A config file failed to parse or validate; `problems` are `file:line:col: message` lines. */
export class ConfigError extends InputError {
  constructor(
    readonly problems: string[],
    options?: { cause?: unknown },
  ) {
    super(problems.join('\n'), options);
  }
}

/** A named thing (release, service, instance) does not exist. */
export class NotFoundError extends ShipcheckError {}

/** The request clashes with current state, e.g. a second active release. */
export class ConflictError extends ShipcheckError {}

/** The caller did not prove who they are: no, a wrong or an expired credential (HTTP 401). */
export class UnauthorizedError extends ShipcheckError {}

/** The caller is known, and this action needs a fresh TOTP code it did not send (HTTP 401). */
export class OtpRequiredError extends UnauthorizedError {}

/** The caller is known but may not do this (HTTP 403). */
export class ForbiddenError extends ShipcheckError {}

/** The caller tried too often; `retryAfterMs` says when to try again (HTTP 429). */
export class TooManyRequestsError extends ShipcheckError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** A provider (fleet, traffic, metrics) failed to do what was asked. */
export class ProviderError extends ShipcheckError {}

/**
 * The message of anything thrown, for one line a person reads: an Error's message (the first of an
 * AggregateError's, as Node reports each address it tried), or the thrown value as text.
 */
export function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return errorMessage(err.errors[0]);
  return err instanceof Error ? err.message : String(err);
}
