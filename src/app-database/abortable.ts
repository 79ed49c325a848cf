/**
 * Waiting on work that cannot be interrupted from here (a query on a socket, a connect) while still
 * answering a stop at once: the backups, the SQL check's queries and the SQLite runner's clients all
 * need it.
 */

/**
 * `work`'s result, or a rejection with `stopped()` as soon as `signal` fires (at once when it already
 * has). `work` settling afterwards is ignored, a failure included, so it never surfaces as unhandled.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal, stopped: () => Error): Promise<T> {
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(stopped());
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
