/** The history page's filters: a unit, a state, a part of the version and a start-time range. */

/** The filters as the URL query holds them (all strings, empty when unset). */
export interface HistoryQuery {
  service: string;
  state: string;
  version: string;
  since: string;
  until: string;
}

/** The release states, in the order a release meets them. */
const STATES = ['progressing', 'waiting', 'paused', 'succeeded', 'rolled_back', 'aborted', 'failed'];

/** The filter form; each change is handed to `onChange` at once (the page keeps it in the URL). */
export function HistoryFilters({
  value,
  units,
  onChange,
}: {
  value: HistoryQuery;
  units: readonly string[];
  onChange: (change: Partial<HistoryQuery>) => void;
}) {
  return (
    <div className="toolbar history-filters">
      <label className="field">
        <span>Service</span>
        <select value={value.service} onChange={(e) => onChange({ service: e.target.value })}>
          <option value="">All services</option>
          {units.map((unit) => (
            <option key={unit} value={unit}>
              {unit}
            </option>
          ))}
          {value.service && !units.includes(value.service) && (
            <option value={value.service}>{value.service}</option>
          )}
        </select>
      </label>
      <label className="field">
        <span>State</span>
        <select value={value.state} onChange={(e) => onChange({ state: e.target.value })}>
          <option value="">All states</option>
          {STATES.map((state) => (
            <option key={state} value={state}>
              {state.replaceAll('_', ' ')}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Version</span>
        <input
          type="search"
          value={value.version}
          onChange={(e) => onChange({ version: e.target.value })}
          spellCheck={false}
        />
      </label>
      <label className="field">
        <span>Since</span>
        <input
          type="datetime-local"
          value={value.since}
          onChange={(e) => onChange({ since: e.target.value })}
        />
      </label>
      <label className="field">
        <span>Until</span>
        <input
          type="datetime-local"
          value={value.until}
          onChange={(e) => onChange({ until: e.target.value })}
        />
      </label>
    </div>
  );
}
