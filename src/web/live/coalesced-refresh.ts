/**
 * Turns a burst of stream events about one key (a unit) into few reads: the first event refreshes
 * at once, and any that arrive in the next `intervalMs` make one more refresh when it ends.
 */

/** Schedules refreshes per key, at most one per key per `intervalMs`. */
export class CoalescedRefresh {
  private readonly timers = new Map<string, { timer: ReturnType<typeof setTimeout>; pending: boolean }>();

  constructor(
    private readonly refresh: (key: string) => void,
    private readonly intervalMs: number,
  ) {}

  /** Asks for a refresh of `key`: now when none ran lately, else once the interval ends. */
  schedule(key: string): void {
    const entry = this.timers.get(key);
    if (entry) {
      entry.pending = true;
      return;
    }
    this.refresh(key);
    this.arm(key);
  }

  /** Drops every scheduled refresh (the page is going away). */
  stop(): void {
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private arm(key: string): void {
    const entry = {
      pending: false,
      timer: setTimeout(() => {
        this.timers.delete(key);
        if (entry.pending) this.schedule(key);
      }, this.intervalMs),
    };
    this.timers.set(key, entry);
  }
}
