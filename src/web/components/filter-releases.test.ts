import { describe, expect, it } from 'vitest';
import type { Release } from '../api/types.js';
import { filterReleases, mergeReleases } from './filter-releases.js';

function release(id: number, service: string, version: string, state: string, createdAt: number): Release {
  return {
    id,
    service,
    version,
    fromVersion: null,
    kind: 'deploy',
    state,
    phase: 'completed',
    step: 0,
    steps: 2,
    stepName: null,
    weight: 100,
    reason: null,
    createdAt,
    updatedAt: createdAt,
    endedAt: createdAt + 1000,
    stepStartedAt: createdAt,
    phaseStartedAt: createdAt,
  };
}

const web = [release(5, 'web', 'v3', 'rolled_back', 5000), release(2, 'web', 'v2', 'succeeded', 2000)];
const api = [
  release(4, 'api@production', 'V2.1', 'succeeded', 4000),
  release(1, 'api@production', 'v1', 'aborted', 1000),
];

describe('mergeReleases', () => {
  it('merges units newest first', () => {
    expect(mergeReleases([web, api]).map((r) => r.id)).toEqual([5, 4, 2, 1]);
  });

  it('orders releases started in the same millisecond by id', () => {
    const same = [release(7, 'a', 'v1', 'succeeded', 10), release(9, 'b', 'v1', 'succeeded', 10)];
    expect(mergeReleases([same]).map((r) => r.id)).toEqual([9, 7]);
  });
});

describe('filterReleases', () => {
  const all = mergeReleases([web, api]);
  const ids = (filter: Parameters<typeof filterReleases>[1]): number[] =>
    filterReleases(all, filter).map((r) => r.id);

  it('keeps everything without filters', () => {
    expect(ids({})).toEqual([5, 4, 2, 1]);
  });

  it('filters by unit, state and a part of the version in any case', () => {
    expect(ids({ service: 'api@production' })).toEqual([4, 1]);
    expect(ids({ state: 'succeeded' })).toEqual([4, 2]);
    expect(ids({ version: 'v2' })).toEqual([4, 2]);
    expect(ids({ service: 'web', version: 'v2' })).toEqual([2]);
  });

  it('filters by start time, both ends included', () => {
    expect(ids({ since: 2000, until: 4000 })).toEqual([4, 2]);
  });
});
