import { loadConfig } from '../../config/loader.js';

/**
 * `shipcheck validate`: loads the config with every check and prints
 * `<file>: ok (service <name>, <n> steps, <m> triggers)`; returns 0. A bad config throws `ConfigError`.
 */
export async function validateCommand(
  opts: { config: string },
  io: { out: (line: string) => void },
): Promise<number> {
  const { config } = await loadConfig(opts.config);
  const steps = plural(config.strategy.steps.length, 'step');
  const triggers = plural(config.rollback.triggers.length, 'trigger');
  io.out(`${opts.config}: ok (service ${config.service}, ${steps}, ${triggers})`);
  return 0;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
