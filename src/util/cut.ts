// Kept text that was cut says so, in the same words wherever it is cut: a reader must never take a
// tail for the whole output.

/** `[… 12,345 earlier characters cut]`: the line put before a kept tail. */
export function cutNote(count: number, unit: 'characters' | 'bytes'): string {
  return `[… ${count.toLocaleString('en-US')} earlier ${unit} cut]`;
}

/**
 * The last `maxChars` characters of `text`, after a {@link cutNote} line when anything was cut; the
 * text itself when it fits. The end is kept because that is where scripts and test runners say what
 * went wrong.
 */
export function keepTail(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  let tail = text.slice(-maxChars);
  // A cut between the halves of a surrogate pair leaves half a character; drop it.
  if (/^[\uDC00-\uDFFF]/.test(tail)) tail = tail.slice(1);
  return `${cutNote(text.length - tail.length, 'characters')}\n${tail}`;
}
