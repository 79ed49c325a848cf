import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** One directive of an nginx config, where it was written, and the blocks around it. */
export interface NginxDirective {
  name: string;
  /** Arguments with quotes and escapes resolved, as nginx reads them. */
  args: string[];
  /** Absolute path of the file holding it. */
  file: string;
  /** 1-based line and column of its name. */
  line: number;
  col: number;
  /** Names of the enclosing blocks, outermost first, e.g. `['http', 'server']`. */
  context: string[];
}

/** A file the config names that could not be read or parsed, so what it holds is unknown. */
export interface NginxConfigGap {
  /** The file (or include pattern) that could not be read. */
  file: string;
  reason: string;
  /** Where it was named or where parsing stopped; undefined for the main file itself. */
  at?: { file: string; line: number; col: number };
}

/** Every directive of an nginx config with its includes expanded in place, and what could not be read. */
export interface NginxConfig {
  directives: NginxDirective[];
  gaps: NginxConfigGap[];
}

/** A config bigger than this is not one a person wrote; reading stops there. */
const MAX_FILE_BYTES = 4 * 1024 * 1024;
/** nginx itself refuses deeper nesting of includes long before this. */
const MAX_INCLUDE_DEPTH = 16;
const GLOB_CHARS = /[*?[]/;

interface Token {
  text: string;
  line: number;
  col: number;
  /** `;`, `{` or `}` written as such, not inside quotes. */
  special: boolean;
}

/**
 * Reads an nginx config the way nginx does, following `include` (relative paths resolve against the
 * main file's folder, nginx's conf prefix; globs are expanded, and one matching nothing is fine).
 * Throws (with a short reason) when the main file cannot be read; anything else that cannot be read or parsed is a gap.
 */
export async function readNginxConfig(file: string): Promise<NginxConfig> {
  const main = path.resolve(file);
  const config: NginxConfig = { directives: [], gaps: [] };
  let text: string;
  try {
    text = await readText(main);
  } catch (err) {
    throw new Error(reasonOf(err), { cause: err });
  }
  await parseInto(config, main, text, [], path.dirname(main), [main]);
  return config;
}

async function readText(file: string): Promise<string> {
  const info = await stat(file);
  if (info.isDirectory()) throw new Error(`${file} is a folder`);
  if (info.size > MAX_FILE_BYTES) throw new Error(`${file} is larger than ${MAX_FILE_BYTES} bytes`);
  return readFile(file, 'utf8');
}

async function parseInto(
  config: NginxConfig,
  file: string,
  text: string,
  outer: string[],
  prefix: string,
  stack: string[],
): Promise<void> {
  const context = [...outer];
  let words: Token[] = [];
  for (const token of tokenize(text)) {
    if ('error' in token) {
      config.gaps.push({ file, reason: token.error, at: { file, line: token.line, col: token.col } });
      return;
    }
    if (!token.special) {
      words.push(token);
      continue;
    }
    const [head, ...rest] = words;
    words = [];
    if (token.text === '}') {
      if (head !== undefined || context.length === outer.length) {
        const reason = head !== undefined ? `"${head.text}" has no ending ";"` : 'unexpected "}"';
        config.gaps.push({ file, reason, at: { file, line: token.line, col: token.col } });
        return;
      }
      context.pop();
      continue;
    }
    if (head === undefined) {
      if (token.text === ';') continue;
      config.gaps.push({
        file,
        reason: 'a block with no name',
        at: { file, line: token.line, col: token.col },
      });
      return;
    }
    const args = rest.map((word) => word.text);
    if (token.text === '{') {
      context.push(head.text);
      continue;
    }
    const directive = { name: head.text, args, file, line: head.line, col: head.col, context: [...context] };
    if (head.text === 'include' && args[0] !== undefined) {
      await include(config, directive, args[0], context, prefix, stack);
    } else {
      config.directives.push(directive);
    }
  }
  if (context.length > outer.length || words.length > 0) {
    const last = words[0];
    const at = last ?? { line: 0, col: 0 };
    config.gaps.push({ file, reason: 'unexpected end of file', at: { file, line: at.line, col: at.col } });
  }
}

async function include(
  config: NginxConfig,
  directive: NginxDirective,
  pattern: string,
  context: string[],
  prefix: string,
  stack: string[],
): Promise<void> {
  const at = { file: directive.file, line: directive.line, col: directive.col };
  const absolute = path.resolve(prefix, pattern);
  if (stack.length >= MAX_INCLUDE_DEPTH) {
    config.gaps.push({ file: absolute, reason: 'includes nest too deeply', at });
    return;
  }
  let files: string[];
  try {
    files = GLOB_CHARS.test(absolute) ? await expandGlob(absolute) : [absolute];
  } catch (err) {
    config.gaps.push({ file: absolute, reason: (err as Error).message, at });
    return;
  }
  for (const file of files) {
    if (stack.includes(file)) {
      config.gaps.push({ file, reason: 'includes itself', at });
      continue;
    }
    let text: string;
    try {
      text = await readText(file);
    } catch (err) {
      config.gaps.push({ file, reason: reasonOf(err), at });
      continue;
    }
    await parseInto(config, file, text, context, prefix, [...stack, file]);
  }
}

/** Files matching a pattern with `*`, `?` and `[...]` in any segment, sorted as glob(3) sorts them. */
async function expandGlob(pattern: string): Promise<string[]> {
  const segments = pattern.split(path.sep);
  let matches = [segments[0] === '' ? path.sep : (segments[0] ?? '')];
  for (const segment of segments.slice(1)) {
    if (segment === '') continue;
    if (!GLOB_CHARS.test(segment)) {
      matches = matches.map((dir) => path.join(dir, segment));
      continue;
    }
    const matcher = globToRegExp(segment);
    const next: string[] = [];
    for (const dir of matches) {
      const entries = await readdir(dir).catch(() => [] as string[]);
      // Like glob(3), a wildcard does not match a leading dot.
      for (const entry of entries.sort()) {
        if (matcher.test(entry) && !(entry.startsWith('.') && !segment.startsWith('.'))) {
          next.push(path.join(dir, entry));
        }
      }
    }
    matches = next;
  }
  const files: string[] = [];
  for (const match of matches) {
    const info = await stat(match).catch(() => undefined);
    if (info?.isFile()) files.push(match);
  }
  return files;
}

function globToRegExp(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const char = segment[i] ?? '';
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else if (char === '[') {
      const end = segment.indexOf(']', i + 1);
      if (end < 0) source += '\\[';
      else {
        const body = segment
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\');
        source += `[${body}]`;
        i = end;
      }
    } else source += char.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

function reasonOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  return (err as Error).message;
}

/** nginx's escapes inside a word: the rest keep their backslash. */
const ESCAPES: Record<string, string> = { '"': '"', "'": "'", '\\': '\\', t: '\t', r: '\r', n: '\n' };

/**
 * Splits nginx config text into words and the specials `;`, `{`, `}`, as ngx_conf_read_token does:
 * `#` starts a comment at the start of a word, quotes group a word, `${name}` is part of a word.
 */
function* tokenize(text: string): Generator<Token | { error: string; line: number; col: number }> {
  let line = 1;
  let col = 1;
  let i = 0;
  const advance = (): string => {
    const char = text[i++] ?? '';
    if (char === '\n') {
      line += 1;
      col = 1;
    } else col += 1;
    return char;
  };
  while (i < text.length) {
    const char = text[i] ?? '';
    if (/\s/.test(char)) {
      advance();
      continue;
    }
    if (char === '#') {
      while (i < text.length && text[i] !== '\n') advance();
      continue;
    }
    const start = { line, col };
    if (char === ';' || char === '{' || char === '}') {
      advance();
      yield { text: char, ...start, special: true };
      continue;
    }
    let word = '';
    if (char === '"' || char === "'") {
      advance();
      let closed = false;
      while (i < text.length) {
        const next = advance();
        if (next === char) {
          closed = true;
          break;
        }
        if (next === '\\' && i < text.length) {
          const escaped = advance();
          word += ESCAPES[escaped] ?? `\\${escaped}`;
        } else word += next;
      }
      if (!closed) {
        yield { error: 'a quote that is never closed', ...start };
        return;
      }
      yield { text: word, ...start, special: false };
      continue;
    }
    while (i < text.length) {
      const next = text[i] ?? '';
      if (/\s/.test(next) || next === ';' || next === '}') break;
      if (next === '{') {
        // `${name}` is a variable inside a word, not the start of a block.
        if (!word.endsWith('$')) break;
        while (i < text.length && text[i] !== '}') word += advance();
        word += advance();
        continue;
      }
      advance();
      if (next === '\\' && i < text.length) {
        const escaped = advance();
        word += ESCAPES[escaped] ?? `\\${escaped}`;
      } else word += next;
    }
    yield { text: word, ...start, special: false };
  }
}
