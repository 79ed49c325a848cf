import { checkKinds } from '../../checklist/kinds/index.js';
import { checkPlan } from '../../checklist/plan-check.js';
import { configuredIn, loadTemplate, resolveItems } from '../../checklist/template.js';
import { loadConfig } from '../../config/loader.js';
import type { Config } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';

/**
 * `shipcheck validate`: loads the config and its checklist template with every check, runs the
 * checklist's plan items (strategy weights, rollback triggers) against the config, and prints
 * `<file>: ok (service <name>, <n> steps, <m> triggers, <k> checklist items)`; returns 0. A bad
 * config or template, or a plan item that would fail at pre-deploy, throws `ConfigError`.
 */
export async function validateCommand(
  opts: { config: string },
  io: { out: (line: string) => void },
): Promise<number> {
  const loaded = await loadConfig(opts.config);
  const { config, dir } = loaded;
  const kinds = checkKinds();
  const template = await loadTemplate(config.checklist.template, { configDir: dir, kinds });
  const targets: { config: Config; prefix: readonly string[]; label: string }[] =
    loaded.environments.length === 0
      ? [{ config, prefix: [], label: '' }]
      : loaded.environments.map((env) => ({
          config: env.config,
          prefix: ['environments', env.name],
          label: `environments.${env.name}: `,
        }));
  const problems: string[] = [];
  for (const target of targets) {
    const own = await loadTemplate(target.config.checklist.template, { configDir: dir, kinds });
    const items = resolveItems(own, {
      vars: target.config.checklist.vars,
      configured: configuredIn(target.config),
    });
    for (const problem of await checkPlan(target.config, items, kinds)) {
      const where = loaded.locate([...target.prefix, ...problem.path]);
      problems.push(
        `${where}: ${target.label}checklist item "${problem.item.id}" would fail at the pre-deploy gate: ${problem.summary}`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const steps = plural(config.strategy.steps.length, 'step');
  const triggers = plural(config.rollback.triggers.length, 'trigger');
  const items = plural(template.items.length, 'checklist item');
  io.out(`${opts.config}: ok (service ${config.service}, ${steps}, ${triggers}, ${items})`);
  return 0;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
