import { Counter, type Registry } from 'prom-client';

/** The notification dispatcher's metrics, served at /metrics. */
export class NotificationMetrics {
  private readonly attempts: Counter<'type' | 'outcome'>;
  private readonly failed: Counter<'type'>;

  constructor(registry: Registry) {
    this.attempts = new Counter({
      name: 'shipcheck_notification_attempts_total',
      help: 'Attempts to deliver a notification, by channel type and outcome (delivered, retry, failed).',
      labelNames: ['type', 'outcome'],
      registers: [registry],
    });
    this.failed = new Counter({
      name: 'shipcheck_notifications_failed_total',
      help: 'Notifications given up (attempts exhausted, endpoint gone, or nowhere to send), by channel type.',
      labelNames: ['type'],
      registers: [registry],
    });
  }

  /** Counts one attempt's outcome. */
  attempt(type: string, outcome: 'delivered' | 'retry' | 'failed'): void {
    this.attempts.inc({ type, outcome });
    if (outcome === 'failed') this.failed.inc({ type });
  }
}
