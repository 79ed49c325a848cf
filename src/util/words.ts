/** `1 item`, `1,204 requests`: a count, grouped by thousands, with its noun. */
export function plural(count: number, noun: string): string {
  return `${count.toLocaleString('en-US')} ${noun}${count === 1 ? '' : 's'}`;
}

/** Ids of the first `max` things, then how many more: `a, b, c and 4 more`. */
export function listIds(things: readonly { id: string }[], max: number): string {
  const shown = things.slice(0, max).map((t) => t.id);
  const more = things.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}
