/** Longest version string accepted: it names processes, files and hook arguments. */
export const MAX_VERSION_LENGTH = 128;

/**
 * What a version may look like, as users are told: it reaches hook scripts as `$SHIPCHECK_VERSION`,
 * so nothing in it may read as an option (`-rf`) or a path (`.`, `..`).
 */
export const VERSION_RULE =
  'a version starts with a letter or a digit and holds only letters, digits, ".", "_", "+" and "-", with no ".."';

const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

/** Checks a version against VERSION_RULE; returns what is wrong, or undefined when it is fine. */
export function checkVersion(version: string): string | undefined {
  if (version.length === 0) return 'a version is required';
  if (version.length > MAX_VERSION_LENGTH)
    return `version is ${version.length} characters long; at most ${MAX_VERSION_LENGTH}`;
  if (!VERSION_PATTERN.test(version) || version.includes('..'))
    return `version ${JSON.stringify(version)} is not valid: ${VERSION_RULE}`;
  return undefined;
}
