/** Who each schedule has on call now, and until when. */
import type { OnCallNow } from '../api/types.js';
import { localParts } from './oncall-calendar.js';

function when(zone: string, ms: number | null): string {
  if (ms === null) return '-';
  const { date, time } = localParts(zone, ms);
  return `${date} ${time}`;
}

/** One row per schedule: the people on call (or nobody), how, and since and until when in its zone. */
export function OnCallNowTable({ schedules }: { schedules: OnCallNow['schedules'] }) {
  return (
    <div className="table-wrap">
      <table className="data oncall-now" aria-label="On call now">
        <thead>
          <tr>
            <th scope="col">Schedule</th>
            <th scope="col">On call</th>
            <th scope="col">Via</th>
            <th scope="col">Since</th>
            <th scope="col">Until</th>
            <th scope="col">Time zone</th>
          </tr>
        </thead>
        <tbody>
          {schedules.map((s) => (
            <tr key={s.name}>
              <th scope="row">{s.name}</th>
              <td>{s.users.length > 0 ? s.users.join(', ') : <span className="muted">nobody</span>}</td>
              <td>
                {s.shifts.map((x) => (x.override ? 'override' : `layer ${x.layer ?? ''}`)).join(', ') || '-'}
              </td>
              <td>{when(s.timeZone, s.start)}</td>
              <td>{when(s.timeZone, s.end)}</td>
              <td>{s.timeZone}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
