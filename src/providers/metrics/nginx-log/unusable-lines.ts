import { describeLineProblem, logFormatAdvice, type LineProblem } from './access-log-line.js';
import { plural } from '../../../util/words.js';

/** Distinct problems kept per stretch; more would only repeat the first ones' story. */
const MAX_PROBLEMS_KEPT = 8;
/** Problems named in a message, most frequent first. */
const MAX_PROBLEMS_SHOWN = 3;

interface Stretch {
  lines: number;
  firstAt: number;
  lastAt: number;
  /** Lines per problem, keyed by field and kind so that values that differ count as one problem. */
  problems: Map<string, { problem: LineProblem; lines: number }>;
  warned: boolean;
}

/**
 * Keeps track of access-log lines that could not be used since the last one that could, so that a
 * log written in a format shipcheck cannot read is reported (once per stretch) instead of looking
 * like a service with no traffic.
 */
export class UnusableLines {
  private stretch: Stretch | undefined;
  private lastUsableAt: number | undefined;

  constructor(private readonly accessLog: string) {}

  /** A line that could be used: ends the stretch of unusable ones. */
  usable(now: number): void {
    this.lastUsableAt = now;
    this.stretch = undefined;
  }

  /** A line that could not be used, and why. */
  unusable(problem: LineProblem, now: number): void {
    this.stretch ??= { lines: 0, firstAt: now, lastAt: now, problems: new Map(), warned: false };
    const stretch = this.stretch;
    stretch.lines += 1;
    stretch.lastAt = now;
    const key = `${problem.field}:${problem.problem}`;
    const known = stretch.problems.get(key);
    if (known !== undefined) known.lines += 1;
    else if (stretch.problems.size < MAX_PROBLEMS_KEPT) stretch.problems.set(key, { problem, lines: 1 });
  }

  /**
   * Why nothing can be measured over the window starting at `since`: unusable lines arrived in it and
   * no usable one did. Undefined when the window has a usable line, or no line at all.
   */
  problemSince(since: number): string | undefined {
    const stretch = this.stretch;
    if (stretch === undefined || stretch.lastAt < since) return undefined;
    if (this.lastUsableAt !== undefined && this.lastUsableAt >= since) return undefined;
    return this.describe(stretch);
  }

  /** The warning to log for the current stretch, once: undefined if there is none or it was given. */
  takeWarning(): string | undefined {
    const stretch = this.stretch;
    if (stretch === undefined || stretch.warned) return undefined;
    stretch.warned = true;
    return this.describe(stretch);
  }

  private describe(stretch: Stretch): string {
    const problems = [...stretch.problems.values()]
      .sort((a, b) => b.lines - a.lines)
      .slice(0, MAX_PROBLEMS_SHOWN)
      .map(({ problem, lines }) => `${describeLineProblem(problem)} (${plural(lines, 'line')})`)
      .join('; ');
    const since = new Date(stretch.firstAt).toISOString();
    return (
      `${plural(stretch.lines, 'line')} read from ${this.accessLog} since ${since}, none usable: ${problems}; ` +
      logFormatAdvice(this.accessLog)
    );
  }
}
