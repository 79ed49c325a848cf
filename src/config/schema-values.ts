/** The values every block of the config shares: durations, percentages, addresses, names. */
import { z } from 'zod';
import { parseDuration } from '../util/duration.js';

const DURATION_HINT = 'expected a duration such as 500ms, 5s, 5m or 1h';

/** A duration written `500ms`, `5s`, `5m`, `1h`; parsed to milliseconds. */
export const duration = z
  // The same hint for a number (`30`) as for a malformed string: a unit is what is missing.
  .string({ error: DURATION_HINT })
  .regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, DURATION_HINT)
  .transform((text) => parseDuration(text) ?? 0)
  .describe('A duration such as 500ms, 5s, 5m or 1h.');

export const PERCENT_HINT = 'expected a percentage such as 5%';
/** Said of any percentage out of range, whichever way it was written. */
export const PERCENT_RANGE = 'a percentage is between 0% and 100%';
export const PERCENT_PATTERN = /^\d+(\.\d+)?%$/;

/** A percentage written `5%` or as a number of percent (`5`); parsed to a fraction (0.05). */
export const percent = z
  .union([
    z.number().min(0, PERCENT_RANGE).max(100, PERCENT_RANGE),
    z.string().regex(PERCENT_PATTERN, PERCENT_HINT),
  ])
  .transform((value) => (typeof value === 'number' ? value : Number(value.slice(0, -1))) / 100)
  .refine((fraction) => fraction <= 1, PERCENT_RANGE)
  .describe('A percentage: 5% or 5.');

/** `host:port`, with host optional (`:8080` or `8080` bind to 127.0.0.1). */
export const listenAddress = z
  .union([z.string(), z.number().int()])
  .transform((value) => String(value))
  // A host needs the colon (`localhost8080` is a typo, not a port); a malformed address skips the port check.
  .refine((value) => /^(?:(?:\[[0-9a-fA-F:]+\]|[\w.-]+)?:)?\d{1,5}$/.test(value), {
    message: 'expected host:port, e.g. 127.0.0.1:8080',
    abort: true,
  })
  .refine((value) => {
    const port = Number(value.slice(value.lastIndexOf(':') + 1));
    return port >= 0 && port <= 65535;
  }, 'port must be between 0 and 65535')
  .describe('host:port to listen on, e.g. 127.0.0.1:8080.');

/** An environment's name, as `environments` keys and `server.auth.protectedEnvironments` write it. */
export const environmentName = z
  .string()
  .regex(/^[a-z][a-z0-9-]*$/, 'an environment name uses lowercase letters, digits and dashes');
