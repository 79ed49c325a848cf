import { describe, expect, it } from 'vitest';
import type { Release } from '../api/types.js';
import { attentionRank, filterServices, type OrderableService, orderServices } from './order-services.js';

function release(id: number, version: string, state: string, extra: Partial<Release> = {}): Release {
  return {
    id,
    service: 'web',
    version,
    fromVersion: null,
    kind: 'deploy',
    state,
    phase: 'canary',
    step: 0,
    steps: 4,
    stepName: 'setWeight 20',
    weight: 20,
    reason: null,
    createdAt: id * 1000,
    updatedAt: id * 1000,
    endedAt: null,
    stepStartedAt: id * 1000,
    phaseStartedAt: id * 1000,
    ...extra,
  };
}

function unit(name: string, rel: Release | null, stable: string | null = 'v1'): OrderableService {
  const [service = name, environment = null] = name.split('@');
  return { name, service, environment, stable, release: rel };
}

const names = (units: OrderableService[]): string[] => units.map((u) => u.name);

describe('orderServices', () => {
  const units = [
    unit('alpha', release(1, 'v2', 'succeeded')),
    unit('bravo', release(2, 'v3', 'rolled_back')),
    unit('charlie', release(3, 'v4', 'progressing')),
    unit('delta', release(4, 'v5', 'waiting')),
    unit('echo', release(5, 'v6', 'paused', { reason: 'inconclusive: no requests to canary' })),
    unit('foxtrot', release(6, 'v7', 'aborted')),
    unit('golf', release(7, 'v8', 'failed')),
    unit('hotel', null, null),
  ];

  it('puts waiting, paused and failed first, then rolled back and aborted, then the rest', () => {
    expect(names(orderServices(units, { key: 'unit', direction: 'ascending' }))).toEqual([
      'delta',
      'echo',
      'golf',
      'bravo',
      'foxtrot',
      'alpha',
      'charlie',
      'hotel',
    ]);
  });

  it('keeps attention first when the sort is reversed', () => {
    expect(names(orderServices(units, { key: 'unit', direction: 'descending' }))).toEqual([
      'golf',
      'echo',
      'delta',
      'foxtrot',
      'bravo',
      'hotel',
      'charlie',
      'alpha',
    ]);
  });

  it('sorts versions by their numbers, not their characters', () => {
    const versions = [
      unit('a', release(1, '1.10.0', 'succeeded'), '1.10.0'),
      unit('b', release(2, '1.9.2', 'succeeded'), '1.9.2'),
      unit('c', release(3, '1.2.0', 'succeeded'), '1.2.0'),
    ];
    expect(names(orderServices(versions, { key: 'stable', direction: 'ascending' }))).toEqual([
      'c',
      'b',
      'a',
    ]);
  });

  it('breaks ties by unit name and leaves its input alone', () => {
    const same = [
      unit('web@staging', release(1, 'v2', 'progressing')),
      unit('api', release(2, 'v2', 'progressing')),
    ];
    expect(names(orderServices(same, { key: 'weight', direction: 'descending' }))).toEqual([
      'api',
      'web@staging',
    ]);
    expect(names(same)).toEqual(['web@staging', 'api']);
  });

  it('ranks a unit without releases with the rest', () => {
    expect(attentionRank(unit('new', null))).toBe(2);
    expect(attentionRank(unit('x', release(1, 'v1', 'waiting')))).toBe(0);
    expect(attentionRank(unit('x', release(1, 'v1', 'aborted')))).toBe(1);
  });
});

describe('filterServices', () => {
  const units: OrderableService[] = [
    {
      ...unit('web@staging', release(1, 'v2.1', 'progressing')),
      recent: [release(1, 'v2.1', 'progressing')],
    },
    { ...unit('web@production', release(2, 'v2.0', 'succeeded'), 'v2.0') },
    { ...unit('api', release(3, 'v9', 'succeeded'), 'v8'), recent: [release(0, 'legacy-7', 'aborted')] },
  ];

  it('keeps one environment', () => {
    expect(names(filterServices(units, { text: '', environment: 'production' }))).toEqual(['web@production']);
  });

  it('matches text in unit, service and versions, in any case', () => {
    expect(names(filterServices(units, { text: 'WEB', environment: '' }))).toEqual([
      'web@staging',
      'web@production',
    ]);
    expect(names(filterServices(units, { text: 'v2.1', environment: '' }))).toEqual(['web@staging']);
    expect(names(filterServices(units, { text: 'v8', environment: '' }))).toEqual(['api']);
    expect(names(filterServices(units, { text: 'legacy', environment: '' }))).toEqual(['api']);
  });
});
