import { checkKinds } from '../../checklist/kinds/index.js';
import { loadTemplate } from '../../checklist/template.js';
import { loadConfig } from '../../config/loader.js';

/**
 * `shipcheck validate`: loads the config and its checklist template with every check and prints
 * `<file>: ok (service <name>, <n> steps, <m> triggers, <k> checklist items)`; returns 0. A bad
 * config or template throws `ConfigError`.
 */
export async function validateCommand(
  opts: { config: string },
  io: { out: (line: string) => void },
): Promise<number> {
  const { config, dir } = await loadConfig(opts.config);
  const template = await loadTemplate(config.checklist.template, { configDir: dir, kinds: checkKinds() });
  const steps = plural(config.strategy.steps.length, 'step');
  const triggers = plural(config.rollback.triggers.length, 'trigger');
  const items = plural(template.items.length, 'checklist item');
  io.out(`${opts.config}: ok (service ${config.service}, ${steps}, ${triggers}, ${items})`);
  return 0;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
