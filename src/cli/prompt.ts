/**
 * Asking a person for a secret or a code: a password from the first line of standard input
 * (`--password-stdin`, for scripts), else typed on the terminal without echo. Prompts go to stderr so
 * that stdout keeps only a command's result (`export SHIPCHECK_TOKEN=$(shipcheck token create ...)`).
 */
import readline from 'node:readline';
import { Writable } from 'node:stream';
import { InputError, ShipcheckError } from '../errors.js';

/** How a command gets a password. */
export interface PasswordSource {
  /** Read the first line of standard input instead of asking. */
  stdin: boolean;
  /** What to ask for on a terminal, e.g. `password for alice`. */
  what: string;
  /** Ask twice and require the same answer: for a new password, not for a login. */
  confirm: boolean;
}

/**
 * The password: the first line of standard input with `stdin`, else typed twice (or once) on the
 * terminal without echo. An InputError when standard input is empty, the two do not match, or there
 * is no terminal to ask on.
 */
export async function readPassword(source: PasswordSource): Promise<string> {
  if (source.stdin) {
    const line = firstLine(await readStdin());
    if (line === '') throw new InputError('--password-stdin: standard input is empty; pipe the password in');
    return line;
  }
  if (!process.stdin.isTTY)
    throw new InputError(`no terminal to ask for the ${source.what} on: pipe it in with --password-stdin`);
  const password = await ask(`${capitalise(source.what)}: `, { echo: false });
  if (source.confirm && (await ask(`${capitalise(source.what)} again: `, { echo: false })) !== password)
    throw new InputError('the two passwords differ; nothing was changed');
  return password;
}

/** Whether a person can be asked: standard input is a terminal. */
export function canAsk(): boolean {
  return Boolean(process.stdin.isTTY);
}

/** Asks `question` on the terminal and returns the answer, echoed or not; Ctrl-C ends with an error. */
export function ask(question: string, options: { echo: boolean }): Promise<string> {
  // The echo of hidden input goes to a stream that drops it; the question itself goes to stderr.
  const output = options.echo ? process.stderr : new Writable({ write: (_chunk, _enc, done) => done() });
  const rl = readline.createInterface({ input: process.stdin, output, terminal: true });
  process.stderr.write(options.echo ? '' : question);
  return new Promise((resolve, reject) => {
    rl.on('SIGINT', () => {
      rl.close();
      process.stderr.write('\n');
      reject(new ShipcheckError('interrupted; nothing was changed'));
    });
    rl.question(options.echo ? question : '', (answer) => {
      rl.close();
      if (!options.echo) process.stderr.write('\n');
      resolve(answer);
    });
  });
}

/** Everything on standard input, as text. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

/** The first line, without its line ending: a password file may end with a newline or not. */
function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').replace(/\r$/, '');
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
