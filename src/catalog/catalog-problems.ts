/**
 * Catalog problems only the whole installation can show, each as `file:line:col: message`: a
 * `service` dependency naming a service the installation does not run, a data flow naming a node that
 * is neither the service, one of its dependencies nor another service, and a contact naming an
 * on-call schedule that does not exist.
 */
import type { LoadedConfig } from '../config/loader.js';
import type { OnCallConfig } from '../config/oncall-schema.js';

function quoted(names: Iterable<string>): string {
  return [...names].map((n) => `"${n}"`).join(', ');
}

/** Every catalog problem of the installation, in service order. */
export function catalogProblems(installation: {
  services: readonly LoadedConfig[];
  oncall: Pick<OnCallConfig, 'schedules'>;
}): string[] {
  const services = installation.services.map((loaded) => loaded.config.service);
  const serviceSet = new Set(services.map((s) => s.toLowerCase()));
  const schedules = installation.oncall.schedules.map((s) => s.name);
  const problems: string[] = [];
  for (const loaded of installation.services) {
    const catalog = loaded.config.catalog;
    if (!catalog) continue;
    const at = (...key: (string | number)[]): string => loaded.locate(['catalog', ...key]);
    catalog.dependencies.forEach((d, i) => {
      if (d.kind === 'service' && !serviceSet.has(d.name.toLowerCase()))
        problems.push(
          `${at('dependencies', i, 'name')}: catalog.dependencies[${i}]: no service is named "${d.name}"; the installation runs ${quoted(services)} (use another kind for something shipcheck does not run)`,
        );
    });
    const nodes = new Set([
      loaded.config.service.toLowerCase(),
      ...serviceSet,
      ...catalog.dependencies.map((d) => d.name.toLowerCase()),
    ]);
    catalog.dataFlows.forEach((f, i) => {
      for (const end of ['from', 'to'] as const)
        if (!nodes.has(f[end].toLowerCase()))
          problems.push(
            `${at('dataFlows', i, end)}: catalog.dataFlows[${i}].${end}: "${f[end]}" is neither this service, one of its dependencies (${quoted(catalog.dependencies.map((d) => d.name)) || 'none'}) nor a service of the installation; add it to dependencies`,
          );
    });
    catalog.contacts.forEach((c, i) => {
      if ('schedule' in c && !schedules.includes(c.schedule))
        problems.push(
          `${at('contacts', i, 'schedule')}: catalog.contacts[${i}]: no on-call schedule is named "${c.schedule}"; ${schedules.length > 0 ? `the schedules are ${quoted(schedules)}` : 'define it under oncall.schedules'}`,
        );
    });
  }
  return problems;
}
