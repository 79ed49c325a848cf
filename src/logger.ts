import { pino, type Logger } from 'pino';
import { redactSecrets } from './util/secrets.js';

/** Every log line passes here on its way out: a known secret is written as ***. */
const redactingStdout = {
  write: (line: string): void => {
    process.stdout.write(redactSecrets(line));
  },
};

/** Redacts the arguments of a log call; the pretty printer runs in a worker that the stream above does not see. */
const hooks = {
  logMethod(this: Logger, args: unknown[], method: (...args: unknown[]) => void): void {
    method.apply(
      this,
      args.map((arg) => (typeof arg === 'string' ? redactSecrets(arg) : arg)),
    );
  },
};

/** JSON logs, or pretty ones on a terminal; `debug` lowers the level. */
export function createLogger(options: { debug?: boolean; pretty?: boolean; level?: string } = {}): Logger {
  const level = options.level ?? (options.debug ? 'debug' : 'info');
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  if (!pretty) return pino({ level, base: { name: 'shipcheck' }, hooks }, redactingStdout);
  return pino({
    level,
    hooks,
    base: undefined,
    transport: {
      target: 'pino-pretty',
      options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' },
    },
  });
}
