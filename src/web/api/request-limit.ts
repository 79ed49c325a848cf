/**
 * A cap on how many reads run at once. A page that reads one thing per unit (status, releases)
 * would otherwise open as many requests as there are units, and the browser and the API would
 * queue them anyway, behind the event stream.
 */

/** Runs tasks with at most `max` of them in flight; the rest wait their turn in order. */
export function requestLimit(max: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  const next = (): void => {
    if (running >= max) return;
    const start = waiting.shift();
    if (start) start();
  };
  return <T>(task: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      waiting.push(() => {
        running++;
        task()
          .then(resolve, reject)
          .finally(() => {
            running--;
            next();
          });
      });
      next();
    });
}
