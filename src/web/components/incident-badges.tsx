/** An incident's state and severity, as text with a colour that never carries the meaning alone. */
import type { Incident } from '../api/types.js';

const STATE_TONE: Record<Incident['state'], string> = {
  triggered: 'bad',
  acknowledged: 'warn',
  resolved: 'ok',
};
const SEVERITY_TONE: Record<Incident['severity'], string> = {
  critical: 'bad',
  error: 'bad',
  warning: 'warn',
  info: 'info',
};

/** `triggered`, `acknowledged`, `resolved`. */
export function IncidentStateBadge({ state }: { state: Incident['state'] }) {
  return <span className={`badge badge-${STATE_TONE[state]}`}>{state}</span>;
}

/** `critical`, `error`, `warning`, `info`. */
export function SeverityBadge({ severity }: { severity: Incident['severity'] }) {
  return <span className={`badge badge-${SEVERITY_TONE[severity]} severity`}>{severity}</span>;
}
