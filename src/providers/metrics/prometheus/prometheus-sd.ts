/** One service's versions and instances as the controller knows them, the input of {@link prometheusTargets}. */
export interface PrometheusSdService {
  service: string;
  environment: string | null;
  stable: string | undefined;
  canary: string | undefined;
  instances: { address: string; version: string; state: string }[];
}

/** One target group of the Prometheus HTTP service discovery format. */
export interface PrometheusTargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** States whose instances no longer serve, so scraping them would only produce `up == 0` noise. */
const GONE_STATES: ReadonlySet<string> = new Set(['exited', 'stopping']);

function roleOf(service: PrometheusSdService, version: string): 'stable' | 'canary' | undefined {
  if (version === service.canary) return 'canary';
  if (version === service.stable) return 'stable';
  return undefined;
}

/**
 * Prometheus HTTP SD target groups: one per (service, version) that is stable or canary and has a
 * live instance, labelled `service`, `version`, `role` and `environment` (omitted when null).
 * Other versions (e.g. the previous one kept warm without traffic) are left out. Pure.
 */
export function prometheusTargets(services: readonly PrometheusSdService[]): PrometheusTargetGroup[] {
  const groups: PrometheusTargetGroup[] = [];
  for (const service of services) {
    const byVersion = new Map<string, string[]>();
    for (const instance of service.instances) {
      if (GONE_STATES.has(instance.state) || roleOf(service, instance.version) === undefined) continue;
      const targets = byVersion.get(instance.version) ?? [];
      targets.push(instance.address);
      byVersion.set(instance.version, targets);
    }
    for (const [version, targets] of byVersion) {
      const labels: Record<string, string> = {
        service: service.service,
        version,
        role: roleOf(service, version)!,
      };
      if (service.environment !== null) labels.environment = service.environment;
      groups.push({ targets, labels });
    }
  }
  return groups;
}
