import { expect } from 'vitest';
import { InputError } from '../../src/errors.js';

/** The message of the InputError `run` throws; fails the test when it throws nothing, or something else. */
export function inputErrorMessage(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('expected an InputError');
}
