/**
 * Releases across services. The API lists releases per unit only, so the page reads each unit it
 * shows (at most six at once) and merges them, newest first. The filters live in the URL query, so
 * a filtered view can be shared and survives a reload.
 */
import { useEffect, useMemo, useState } from 'react';
import { listReleases, listServices } from '../api/resources.js';
import { requestLimit } from '../api/request-limit.js';
import type { Release } from '../api/types.js';
import { filterReleases, mergeReleases } from '../components/filter-releases.js';
import { HistoryFilters, type HistoryQuery } from '../components/history-filters.js';
import { ReleasesTable } from '../components/releases-table.js';
import { navigate, useLocation } from '../router.js';

/** Releases read per unit: the history goes back this far for each. */
const RELEASES_PER_UNIT = 200;
/** Reads in flight at once. */
const MAX_READS_IN_FLIGHT = 6;
/** A `datetime-local` value names a minute: `Until` takes in the whole of it. */
const MINUTE_MS = 60_000;
/** `2026-12-06T12:30`: a value without seconds. */
const MINUTE_VALUE_LENGTH = 16;
const QUERY_KEYS: (keyof HistoryQuery)[] = ['service', 'state', 'version', 'since', 'until'];

/** A `datetime-local` value (local time) as epoch ms; undefined when empty or unreadable. */
function localTime(value: string): number | undefined {
  if (!value) return undefined;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

/** The last millisecond an `Until` value covers. */
function untilTime(value: string): number | undefined {
  const ms = localTime(value);
  if (ms === undefined) return undefined;
  return value.length === MINUTE_VALUE_LENGTH ? ms + MINUTE_MS - 1 : ms;
}

/** The history page. */
export function HistoryPage() {
  const { search } = useLocation();
  const query: HistoryQuery = {
    service: search.get('service') ?? '',
    state: search.get('state') ?? '',
    version: search.get('version') ?? '',
    since: search.get('since') ?? '',
    until: search.get('until') ?? '',
  };
  const [units, setUnits] = useState<string[] | null>(null);
  const [byUnit, setByUnit] = useState<Map<string, Release[]>>(new Map());
  const [errors, setErrors] = useState<string[]>([]);
  const [now, setNow] = useState(() => Date.now());
  const limit = useMemo(() => requestLimit(MAX_READS_IN_FLIGHT), []);

  useEffect(() => {
    listServices().then(
      (services) => setUnits(services.map((s) => s.name)),
      (err: unknown) => {
        setUnits([]);
        setErrors([err instanceof Error ? err.message : String(err)]);
      },
    );
  }, []);

  // Read the units in view that have not been read yet: all of them, or the one chosen.
  const wanted = units === null ? [] : query.service ? [query.service] : units;
  const missing = wanted.filter((unit) => !byUnit.has(unit)).join('\n');
  useEffect(() => {
    if (!missing) return;
    let live = true;
    for (const unit of missing.split('\n')) {
      void limit(() => listReleases(unit, RELEASES_PER_UNIT)).then(
        (releases) => live && setByUnit((current) => new Map(current).set(unit, releases)),
        (err: unknown) => {
          if (!live) return;
          setByUnit((current) => new Map(current).set(unit, []));
          setErrors((current) => [
            ...current,
            `${unit}: ${err instanceof Error ? err.message : String(err)}`,
          ]);
        },
      );
    }
    setNow(Date.now());
    return () => {
      live = false;
    };
  }, [missing, limit]);

  const change = (part: Partial<HistoryQuery>): void => {
    const next = { ...query, ...part };
    const params = new URLSearchParams();
    for (const key of QUERY_KEYS) if (next[key]) params.set(key, next[key]);
    const text = params.toString();
    navigate(`/history${text ? `?${text}` : ''}`, { replace: true });
  };

  const loading = units === null || wanted.some((unit) => !byUnit.has(unit));
  const releases = filterReleases(mergeReleases(wanted.map((unit) => byUnit.get(unit) ?? [])), {
    service: query.service,
    state: query.state,
    version: query.version,
    since: localTime(query.since),
    until: untilTime(query.until),
  });

  return (
    <section className="history-page">
      <h1>History</h1>
      <HistoryFilters value={query} units={units ?? []} onChange={change} />
      {errors.length > 0 && (
        <div className="error" role="alert">
          {errors.map((message) => (
            <p key={message}>{message}</p>
          ))}
        </div>
      )}
      <p className="muted" aria-live="polite">
        {loading
          ? 'Loading releases…'
          : `${releases.length} release${releases.length === 1 ? '' : 's'}` +
            (wanted.length > 1 ? ` across ${wanted.length} units` : '') +
            ` (the last ${RELEASES_PER_UNIT} of each unit)`}
      </p>
      <ReleasesTable releases={releases} now={now} />
    </section>
  );
}
