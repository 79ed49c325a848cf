import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { checkKinds } from '../../checklist/kinds/index.js';
import { checkPlan } from '../../checklist/plan-check.js';
import { configuredIn, loadTemplate, resolveItems } from '../../checklist/template.js';
import type { LoadedConfig } from '../../config/loader.js';
import { loadInstallation } from '../../config/installation.js';
import type { Config } from '../../config/schema.js';
import { YamlSource, valueAt, type YamlPath } from '../../config/yaml-positions.js';
import { ConfigError } from '../../errors.js';
import { checkAccessLogFormat } from '../../providers/metrics/nginx-log/log-format-check.js';
import { plural } from '../../util/words.js';
import { scheduleOverrideFindings } from '../../maintenance/unit-scheduler.js';

/**
 * `shipcheck validate`: loads the config and its checklist template with every check, runs the
 * checklist's plan items (strategy weights, rollback triggers) against the config, and prints
 * `<file>: ok (service <name>, <n> steps, <m> triggers, <k> checklist items)`; returns 0. A bad
 * config or template, or a plan item that would fail at pre-deploy, throws `ConfigError`. Behind nginx
 * it also checks that nginx writes `metrics.accessLog` in a format shipcheck reads: a missing field is
 * a `ConfigError`, a doubt (a file that cannot be read) is a `file:line:col: warning: ...` line on stderr.
 */
export async function validateCommand(
  opts: { config: string },
  io: { out: (line: string) => void; err?: (line: string) => void },
): Promise<number> {
  const installation = await loadInstallation(opts.config);
  const kinds = checkKinds();
  const errors: string[] = [];
  const lines: string[] = [];
  for (const loaded of installation.services) {
    const { config, dir } = loaded;
    // A lone service file is named as the user gave it; a listed one relative to where they are.
    const shown = installation.form === 'service' ? opts.config : shortPath(loaded.file);
    const template = await loadTemplate(config.checklist.template, { configDir: dir, kinds });
    const { errors: logErrors, warnings } = await accessLogProblems(shown, loaded);
    // Warnings go with the errors when the caller keeps one stream only.
    warnings.forEach((line) => (io.err ?? io.out)(line));
    errors.push(...logErrors, ...(await planProblems(loaded, kinds)));
    const steps = plural(config.strategy.steps.length, 'step');
    const triggers = plural(config.rollback.triggers.length, 'trigger');
    const items = plural(template.items.length, 'checklist item');
    lines.push(`${shown}: ok (service ${config.service}, ${steps}, ${triggers}, ${items})`);
  }
  if (errors.length > 0) throw new ConfigError(errors);
  lines.forEach((line) => io.out(line));
  if (installation.form === 'control-plane')
    io.out(`${opts.config}: ok (${plural(installation.services.length, 'service')})`);
  return 0;
}

/**
 * The checklist's plan items (strategy weights, rollback triggers) that would fail at the pre-deploy
 * gate, for the base config or each environment, pointed at the config key they are about.
 */
async function planProblems(loaded: LoadedConfig, kinds: ReturnType<typeof checkKinds>): Promise<string[]> {
  const targets: { config: Config; prefix: readonly string[]; label: string }[] =
    loaded.environments.length === 0
      ? [{ config: loaded.config, prefix: [], label: '' }]
      : loaded.environments.map((env) => ({
          config: env.config,
          prefix: ['environments', env.name],
          label: `environments.${env.name}: `,
        }));
  const problems: string[] = [];
  for (const target of targets) {
    const template = await loadTemplate(target.config.checklist.template, { configDir: loaded.dir, kinds });
    const items = resolveItems(template, {
      vars: target.config.checklist.vars,
      configured: configuredIn(target.config),
    });
    problems.push(...scheduleOverrideFindings(loaded, target.prefix[1], target.config, template.items));
    for (const problem of await checkPlan(target.config, items, kinds)) {
      const where = loaded.locate([...target.prefix, ...problem.path]);
      problems.push(
        `${where}: ${target.label}checklist item "${problem.item.id}" would fail at the pre-deploy gate: ${problem.summary}`,
      );
    }
  }
  return problems;
}

/** One nginx and access log to check, and where the shipcheck file names them. */
interface AccessLogTarget {
  nginxConfig: string;
  accessLog: string;
  upstreamFile: string;
  keys: { accessLog: YamlPath; nginxConfig: YamlPath };
}

/** The access-log findings of the base config and of every environment, as `file:line:col: message` lines. */
async function accessLogProblems(
  displayName: string,
  loaded: LoadedConfig,
): Promise<{ errors: string[]; warnings: string[] }> {
  const source = new YamlSource(displayName, await readFile(loaded.file, 'utf8'));
  const data = source.toJS();
  const raw = data.ok ? data.value : {};
  const targets = new Map<string, AccessLogTarget>();
  const add = (config: LoadedConfig['config'], environment: string | undefined): void => {
    if (config.traffic.kind !== 'nginx' || config.metrics.kind !== 'nginx-log') return;
    // An environment's own value is pointed at where it wrote one; else the base value it inherits.
    const keyOf = (key: YamlPath): YamlPath =>
      environment !== undefined && valueAt(raw, ['environments', environment, ...key]) !== undefined
        ? ['environments', environment, ...key]
        : key;
    const target: AccessLogTarget = {
      nginxConfig: path.resolve(loaded.dir, config.traffic.nginxConfig),
      accessLog: path.resolve(loaded.dir, config.metrics.accessLog),
      upstreamFile: path.resolve(loaded.dir, config.traffic.upstreamFile),
      keys: { accessLog: keyOf(['metrics', 'accessLog']), nginxConfig: keyOf(['traffic', 'nginxConfig']) },
    };
    const id = `${target.nginxConfig}\u0000${target.accessLog}`;
    if (!targets.has(id)) targets.set(id, target);
  };
  add(loaded.config, undefined);
  for (const environment of loaded.environments) add(environment.config, environment.name);

  const errors: string[] = [];
  const warnings: string[] = [];
  for (const target of targets.values()) {
    const findings = await checkAccessLogFormat({
      nginxConfig: target.nginxConfig,
      accessLog: target.accessLog,
      mayBeMissing: [target.upstreamFile],
    });
    for (const finding of findings) {
      const where =
        typeof finding.at === 'string'
          ? source.position(
              source.place({ path: target.keys[finding.at], anchor: 'value', message: '' }).offset,
            )
          : `${shortPath(finding.at.file)}:${finding.at.line}:${finding.at.col}`;
      if (finding.severity === 'error') errors.push(`${where}: ${finding.message}`);
      else warnings.push(`${where}: warning: ${finding.message}`);
    }
  }
  return { errors: [...new Set(errors)], warnings: [...new Set(warnings)] };
}

/** A path as short as it can be said from the current folder, like a compiler names files. */
function shortPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}
