/** Lists typed as comma-separated text (roles, groups), as the People page's inputs take them. */

/** `deployer@staging, viewer ,,sre` -> `['deployer@staging', 'viewer', 'sre']`: trimmed, no blanks, no repeats. */
export function parseCommaList(text: string): string[] {
  const items: string[] = [];
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item && !items.includes(item)) items.push(item);
  }
  return items;
}

/** The text an input shows for a list: `deployer@staging, viewer`. */
export function formatCommaList(items: readonly string[]): string {
  return items.join(', ');
}
