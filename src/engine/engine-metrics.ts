import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Bucket bounds of `shipcheck_reconcile_duration_seconds`, in seconds. */
const RECONCILE_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

/** The control plane's own metrics, served at /metrics. */
export class EngineMetrics {
  private readonly releases: Counter<'service' | 'state'>;
  private readonly weight: Gauge<'service'>;
  private readonly reconcile: Histogram<'service'>;
  private readonly measurements: Counter<'service' | 'metric' | 'verdict'>;
  private readonly skipped: Counter<'service'>;

  constructor(registry: Registry) {
    this.releases = new Counter({
      name: 'shipcheck_releases_total',
      help: 'Releases that ended, by final state.',
      labelNames: ['service', 'state'],
      registers: [registry],
    });
    this.weight = new Gauge({
      name: 'shipcheck_canary_weight_percent',
      help: 'Percent of traffic the active canary should get.',
      labelNames: ['service'],
      registers: [registry],
    });
    this.reconcile = new Histogram({
      name: 'shipcheck_reconcile_duration_seconds',
      help: 'Time one reconcile pass of a service (or service@environment) takes.',
      labelNames: ['service'],
      // Fine below 50 ms, where a pass should be, so a p99 can be read from the buckets.
      buckets: RECONCILE_BUCKETS_SECONDS,
      registers: [registry],
    });
    this.skipped = new Counter({
      name: 'shipcheck_reconcile_skipped_total',
      help: 'Ticks of the reconcile loop skipped because the last pass of the service was still running.',
      labelNames: ['service'],
      registers: [registry],
    });
    this.measurements = new Counter({
      name: 'shipcheck_measurements_total',
      help: 'Trigger evaluations, by metric and verdict.',
      labelNames: ['service', 'metric', 'verdict'],
      registers: [registry],
    });
  }

  /** A release reached a terminal state. */
  ended(service: string, state: string): void {
    this.releases.inc({ service, state });
  }

  /** The weight the route now gives the canary. */
  setWeight(service: string, weight: number): void {
    this.weight.set({ service }, weight);
  }

  /** Starts timing a reconcile pass of `service`; call the result when it ends. */
  startReconcile(service: string): () => void {
    return this.reconcile.startTimer({ service });
  }

  /** A tick of the loop found the last pass of `service` still running and started none. */
  skippedTick(service: string): void {
    this.skipped.inc({ service });
  }

  /** One trigger evaluation. */
  measured(service: string, metric: string, verdict: string): void {
    this.measurements.inc({ service, metric, verdict });
  }
}
