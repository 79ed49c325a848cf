/**
 * Turns a burst of stream events about one thing (a unit, a release's checklist) into few reads:
 * the first ask refreshes at once, and the asks of the next window make one more refresh when it
 * ends. Every page that refreshes on stream events uses it.
 */

/** The timer a {@link RefreshCoalescer} waits with; the browser's, or a test's. */
export interface Timer {
  set: (callback: () => void, ms: number) => unknown;
  clear: (handle: unknown) => void;
}

/** The browser's timer. */
export const BROWSER_TIMER: Timer = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Runs a refresh at once when asked, then at most once more per window for the asks that came in
 * meanwhile: a burst of stream events reads each resource once at its start and once at its end.
 */
export class RefreshCoalescer<K extends string> {
  private readonly open = new Map<K, unknown>();
  private readonly dirty = new Set<K>();
  private disposed = false;

  constructor(
    private readonly run: (key: K) => void,
    private readonly windowMs: number,
    private readonly timer: Timer = BROWSER_TIMER,
  ) {}

  /** Asks for a refresh of `key`. */
  request(key: K): void {
    if (this.disposed) return;
    if (this.open.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.run(key);
    this.startWindow(key);
  }

  /** Forgets every pending refresh; later asks do nothing. */
  dispose(): void {
    this.disposed = true;
    for (const handle of this.open.values()) this.timer.clear(handle);
    this.open.clear();
    this.dirty.clear();
  }

  private startWindow(key: K): void {
    const handle = this.timer.set(() => {
      this.open.delete(key);
      if (this.disposed || !this.dirty.delete(key)) return;
      this.run(key);
      this.startWindow(key);
    }, this.windowMs);
    this.open.set(key, handle);
  }
}
