/**
 * CPU and resident memory of each instance of a local fleet, read from /proc by process group, and
 * the gauges that show them on /metrics. CPU is a rate: the difference of two readings of an
 * instance's CPU seconds over the monotonic time between them (CPU seconds are physical time, so
 * this is the one place that does not read the injected clock).
 */
import { Gauge, type Registry } from 'prom-client';
import type { Instance } from '../providers/fleet/types.js';
import { SHARED_READING_MS, processGroupUsage } from '../util/process-usage.js';

/** One instance's latest reading. */
export interface InstanceUsage {
  id: string;
  version: string;
  /** CPU as a fraction of one core over the last interval; undefined after the first reading. */
  cpu: number | undefined;
  rssBytes: number;
}

/** The two gauges, once per registry. */
class UsageGauges {
  readonly cpu: Gauge<'unit' | 'version' | 'instance'>;
  readonly rss: Gauge<'unit' | 'version' | 'instance'>;
  constructor(registry: Registry) {
    this.cpu = new Gauge({
      name: 'shipcheck_instance_cpu_ratio',
      help: 'CPU an instance used over the last sample, as a fraction of one core (local fleet).',
      labelNames: ['unit', 'version', 'instance'],
      registers: [registry],
    });
    this.rss = new Gauge({
      name: 'shipcheck_instance_rss_bytes',
      help: 'Resident memory of an instance and the processes it started (local fleet).',
      labelNames: ['unit', 'version', 'instance'],
      registers: [registry],
    });
  }
}

const gaugesByRegistry = new WeakMap<Registry, UsageGauges>();

function gaugesOf(registry: Registry): UsageGauges {
  let gauges = gaugesByRegistry.get(registry);
  if (!gauges) {
    gauges = new UsageGauges(registry);
    gaugesByRegistry.set(registry, gauges);
  }
  return gauges;
}

/** Samples a unit's instances; keeps the last reading of each for the rate and for the autoscaler. */
export class InstanceUsageSampler {
  private last = new Map<string, { pid: number; cpuSeconds: number; at: number }>();
  private latest = new Map<string, InstanceUsage>();
  private readonly gauges: UsageGauges | undefined;

  constructor(
    private readonly unit: string,
    registry: Registry | undefined,
    private readonly procDir = '/proc',
    /** How old a pass over /proc may be that another unit made (tests read afresh with 0). */
    private readonly sharedReadingMs = SHARED_READING_MS,
  ) {
    this.gauges = registry ? gaugesOf(registry) : undefined;
  }

  /** Reads every instance with a pid now; instances gone since the last reading leave the gauges. */
  sample(instances: readonly Instance[]): void {
    const live = instances.filter((i) => i.pid !== undefined && i.state !== 'exited');
    const usage = processGroupUsage(
      live.map((i) => i.pid as number),
      this.procDir,
      this.sharedReadingMs,
    );
    const next = new Map<string, InstanceUsage>();
    const nextLast = new Map<string, { pid: number; cpuSeconds: number; at: number }>();
    for (const instance of live) {
      const pid = instance.pid as number;
      const read = usage.get(pid);
      if (!read) continue;
      const now = read.readAt;
      const before = this.last.get(instance.id);
      const kept = this.latest.get(instance.id);
      if (before && before.pid === pid && before.at === now && kept) {
        // The same pass over /proc as last time (sampled again within it): nothing new to learn.
        nextLast.set(instance.id, before);
        next.set(instance.id, kept);
        continue;
      }
      const seconds = before && before.pid === pid ? (now - before.at) / 1000 : 0;
      const cpu =
        before && before.pid === pid && seconds > 0
          ? Math.max(0, (read.cpuSeconds - before.cpuSeconds) / seconds)
          : undefined;
      nextLast.set(instance.id, { pid, cpuSeconds: read.cpuSeconds, at: now });
      next.set(instance.id, { id: instance.id, version: instance.version, cpu, rssBytes: read.rssBytes });
    }
    for (const gone of this.latest.values()) if (!next.has(gone.id)) this.dropGauges(gone);
    for (const u of next.values()) {
      const labels = { unit: this.unit, version: u.version, instance: u.id };
      if (u.cpu !== undefined) this.gauges?.cpu.set(labels, u.cpu);
      this.gauges?.rss.set(labels, u.rssBytes);
    }
    this.last = nextLast;
    this.latest = next;
  }

  /** The latest readings of `version`'s instances. */
  of(version: string): InstanceUsage[] {
    return [...this.latest.values()].filter((u) => u.version === version);
  }

  /** Mean CPU (fraction of a core) and RSS per instance of `version`; undefined where nothing was read. */
  mean(version: string): { cpu: number | undefined; rss: number | undefined } {
    const readings = this.of(version);
    const cpus = readings.map((u) => u.cpu).filter((c): c is number => c !== undefined);
    return {
      cpu: cpus.length > 0 ? cpus.reduce((a, b) => a + b, 0) / cpus.length : undefined,
      rss: readings.length > 0 ? readings.reduce((a, u) => a + u.rssBytes, 0) / readings.length : undefined,
    };
  }

  /** Forgets every reading and removes this unit's gauges (the replica stopped driving the unit). */
  clear(): void {
    for (const u of this.latest.values()) this.dropGauges(u);
    this.latest.clear();
    this.last.clear();
  }

  private dropGauges(u: InstanceUsage): void {
    const labels = { unit: this.unit, version: u.version, instance: u.id };
    this.gauges?.cpu.remove(labels);
    this.gauges?.rss.remove(labels);
  }
}
