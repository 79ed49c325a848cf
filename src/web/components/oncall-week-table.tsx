/** One week of a schedule's calendar: the days as columns, each listing its shifts. */
import type { CalendarDay } from './oncall-calendar.js';

const DAY_NAMES = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** A table of seven local days; each cell lists who is on call from when to when. */
export function OnCallWeekTable({ schedule, week }: { schedule: string; week: CalendarDay[] }) {
  return (
    <div className="table-wrap">
      <table className="data oncall-week" aria-label={`${schedule}, week of ${week[0]?.date ?? ''}`}>
        <thead>
          <tr>
            {week.map((day, i) => (
              <th scope="col" key={day.date}>
                {DAY_NAMES[i]} {day.date.slice(5)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          <tr>
            {week.map((day) => (
              <td key={day.date}>
                {!day.inRange ? null : day.parts.length === 0 ? (
                  <span className="muted">nobody</span>
                ) : (
                  <ul>
                    {day.parts.map((part, i) => (
                      <li key={i} className={part.override ? 'oncall-override' : undefined}>
                        <span className="oncall-time">
                          {part.from}–{part.to}
                        </span>{' '}
                        {part.user}
                        {part.override ? ' (override)' : ''}
                      </li>
                    ))}
                  </ul>
                )}
              </td>
            ))}
          </tr>
        </tbody>
      </table>
    </div>
  );
}
