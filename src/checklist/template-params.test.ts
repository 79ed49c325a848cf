import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TEST_KINDS, templateFolder } from '../../test/support/template-files.js';
import { PLANNED_KIND_NAMES, checkKinds } from './kinds/index.js';
import { paramFindings, templateKindNames, unknownKindProblem } from './template-params.js';

const { write, load, problemsOf } = templateFolder();

describe('the kinds a template may name', () => {
  it("are the registry's kinds and its planned ones, nothing else", () => {
    expect(templateKindNames(checkKinds())).toEqual([...checkKinds().keys(), ...PLANNED_KIND_NAMES]);
    for (const kind of [...checkKinds().keys(), ...PLANNED_KIND_NAMES]) {
      expect(unknownKindProblem(kind, checkKinds()), kind).toBeUndefined();
    }
  });

  it('are the kinds given to loadTemplate: a kind the build leaves out is refused like a typo', async () => {
    const file = await write(
      'kinds.yaml',
      `items:
  - id: a/health
    section: A
    title: Health
    kind: http
    gate: verify
    params: { url: /healthz }
  - id: a/status
    section: A
    title: Status page
    kind: status-page
    gate: post-deploy
`,
    );
    const onlyManual = new Map([['manual', { params: z.strictObject({}) }]]);
    expect(await problemsOf('kinds.yaml', onlyManual)).toEqual([
      `${file}:5:11: items[0].kind: unknown kind "http"; known kinds: manual`,
      `${file}:11:11: items[1].kind: unknown kind "status-page"; known kinds: manual`,
    ]);
  });

  it('suggests the closest kind, or lists them all', () => {
    expect(unknownKindProblem('htpp', TEST_KINDS)).toBe('unknown kind "htpp" (did you mean "http"?)');
    expect(unknownKindProblem('status_page', TEST_KINDS)).toBe(
      'unknown kind "status_page" (did you mean "status-page"?)',
    );
    const few = new Map([
      ['manual', { params: z.strictObject({}) }],
      ['tcp', { params: z.strictObject({}) }],
    ]);
    expect(unknownKindProblem('carrier-pigeon', few)).toBe(
      'unknown kind "carrier-pigeon"; known kinds: manual, tcp',
    );
  });
});

describe('params checked against their kind', () => {
  const schema = z.strictObject({
    url: z.string().startsWith('/', 'expected a path starting with /'),
    expectStatus: z.union([z.number().int(), z.array(z.number().int())]).optional(),
    retry: z.strictObject({ attempts: z.number().int(), backoff: z.string() }).optional(),
  });
  const AT = ['items', 2, 'params'] as const;

  it('finds nothing in params the kind accepts', () => {
    expect(paramFindings(schema, { url: '/healthz', expectStatus: [200, 204] }, AT)).toEqual([]);
  });

  it('places each problem at its key or value, with the nearest known key suggested', () => {
    expect(
      paramFindings(
        schema,
        { url: 'healthz', expectStatus: '200', retry: { attempts: 3, bakcoff: '1s' } },
        AT,
      ),
    ).toEqual([
      {
        path: [...AT, 'url'],
        anchor: 'value',
        message: 'items[2].params.url: expected a path starting with /, got "healthz"',
      },
      {
        path: [...AT, 'expectStatus'],
        anchor: 'value',
        message: 'items[2].params.expectStatus: expected a number or a list, got string "200"',
      },
      {
        path: [...AT, 'retry', 'backoff'],
        anchor: 'value',
        message: 'items[2].params.retry.backoff: required',
      },
      {
        path: [...AT, 'retry', 'bakcoff'],
        anchor: 'key',
        message: 'items[2].params.retry: unknown key "bakcoff" (did you mean "backoff"?)',
      },
    ]);
  });

  it('leaves a value with a {{vars.NAME}} placeholder for the resolver, but not an unknown key', () => {
    expect(paramFindings(schema, { url: '{{vars.healthPath}}', tagret: '{{vars.x}}' }, AT)).toEqual([
      {
        path: [...AT, 'tagret'],
        anchor: 'key',
        message: 'items[2].params: unknown key "tagret"',
      },
    ]);
  });

  it('leaves {{vars.NAME}} placeholders for the resolver, even where the kind would refuse them', async () => {
    await write(
      'vars.yaml',
      `items:
  - id: a/health
    section: A
    title: Health
    kind: http
    gate: verify
    params: { url: '{{vars.healthPath}}', target: canary }
`,
    );
    expect((await load('vars.yaml')).items[0]?.params).toEqual({
      url: '{{vars.healthPath}}',
      target: 'canary',
    });
  });
});
