/**
 * On-call: who each schedule has on call now, whom each escalation step reaches, and a calendar of
 * the next four weeks per schedule, a table per week, in the schedule's time zone.
 */
import { useEffect, useState } from 'react';
import { oncallNow, scheduleShifts } from '../api/resources.js';
import type { OnCallNow, ScheduleShifts } from '../api/types.js';
import { calendarWeeks } from '../components/oncall-calendar.js';
import { OnCallNowTable } from '../components/oncall-now-table.js';
import { OnCallWeekTable } from '../components/oncall-week-table.js';

const DAY_MS = 86_400_000;
/** How far ahead the calendar reads. */
const CALENDAR_DAYS = 28;

/** The on-call page. */
export function OnCallPage() {
  const [now, setNow] = useState<OnCallNow | null>(null);
  const [calendars, setCalendars] = useState<ScheduleShifts[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    const from = Date.now();
    oncallNow()
      .then(async (answer) => {
        if (!live) return;
        setNow(answer);
        const read = await Promise.all(
          answer.schedules.map((s) => scheduleShifts(s.name, from, from + CALENDAR_DAYS * DAY_MS)),
        );
        if (live) setCalendars(read);
      })
      .catch((err: unknown) => live && setError(err instanceof Error ? err.message : String(err)));
    return () => {
      live = false;
    };
  }, []);

  return (
    <section className="oncall-page">
      <h1>On call</h1>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {now === null ? (
        !error && <p className="muted">Loading…</p>
      ) : now.schedules.length === 0 ? (
        <p className="muted">No on-call schedule is configured (oncall.schedules).</p>
      ) : (
        <>
          <OnCallNowTable schedules={now.schedules} />
          {now.warnings.map((w) => (
            <p key={w} className="muted">
              {w}
            </p>
          ))}
          {now.policies.length > 0 && (
            <>
              <h2>Escalation now</h2>
              <ul className="oncall-policies">
                {now.policies.map((p) => (
                  <li key={p.name}>
                    <strong>{p.name}</strong>:{' '}
                    {p.steps
                      .map(
                        (step, i) =>
                          `${i + 1}. ${[...step.users, ...step.channels.map((c) => `#${c}`)].join(', ') || 'nobody'}`,
                      )
                      .join(' → ')}
                  </li>
                ))}
              </ul>
            </>
          )}
          {calendars.map((c) => (
            <section key={c.schedule} className="oncall-calendar">
              <h2>
                {c.schedule} <span className="muted">({c.timeZone})</span>
              </h2>
              {calendarWeeks(c.timeZone, c.from, c.to, c.shifts).map((week) => (
                <OnCallWeekTable key={week[0]?.date} schedule={c.schedule} week={week} />
              ))}
            </section>
          ))}
        </>
      )}
    </section>
  );
}
