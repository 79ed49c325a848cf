import { pino, type Logger } from 'pino';

/** JSON logs, or pretty ones on a terminal; `debug` lowers the level. */
export function createLogger(options: { debug?: boolean; pretty?: boolean; level?: string } = {}): Logger {
  const level = options.level ?? (options.debug ? 'debug' : 'info');
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  if (!pretty) return pino({ level, base: { name: 'shipcheck' } });
  return pino({
    level,
    base: undefined,
    transport: {
      target: 'pino-pretty',
      options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' },
    },
  });
}
