import { describe, expect, it } from 'vitest';
import { diffEnv, envCheck } from './env.js';
import { contextFor } from '../../../test/support/check-context.js';

const SECRET = 's3cr3t-password';

/** A context whose versions get the given environments. */
function withEnvs(envs: Record<string, Record<string, string>>, fromVersion: string | null = 'v1') {
  return contextFor({ fromVersion, envOf: (version) => envs[version] ?? {} });
}

describe('env params', () => {
  it('takes required and optional forbidden names', () => {
    expect(envCheck.params.parse({ required: ['DATABASE_URL'] })).toEqual({ required: ['DATABASE_URL'] });
    expect(envCheck.params.safeParse({}).success).toBe(false);
    expect(envCheck.params.safeParse({ required: ['1BAD'] }).success).toBe(false);
    expect(envCheck.params.safeParse({ required: ['A'], forbidden: ['B-C'] }).success).toBe(false);
    expect(envCheck.params.safeParse({ required: [], optional: [] }).success).toBe(false);
  });
});

describe('diffEnv', () => {
  it('names added, removed and changed variables, sorted', () => {
    expect(diffEnv({ A: '1', B: '2', C: '3' }, { C: '4', B: '2', E: '5', D: '' })).toEqual({
      added: ['D', 'E'],
      removed: ['A'],
      changed: ['C'],
    });
  });
});

describe('env check', () => {
  it('passes when every required variable is set, and shows the diff without values', async () => {
    const context = withEnvs({
      v1: { DATABASE_URL: 'postgres://old', OLD_FLAG: '1', PORT: '3000' },
      v2: { DATABASE_URL: SECRET, PORT: '3000', REDIS_URL: 'redis://x' },
    });
    const result = await envCheck.run(
      envCheck.params.parse({ required: ['DATABASE_URL', 'REDIS_URL'] }),
      context,
    );
    expect(result).toMatchObject({
      ok: true,
      summary: '2 required variables set for v2; 1 added, 1 removed, 1 changed since v1',
      data: { missing: [], diff: { added: ['REDIS_URL'], removed: ['OLD_FLAG'], changed: ['DATABASE_URL'] } },
    });
    expect(result.output).toBe('since v1:\n+ REDIS_URL\n- OLD_FLAG\n~ DATABASE_URL (changed)');
    expect(JSON.stringify(result)).not.toContain(SECRET);
    expect(JSON.stringify(result)).not.toContain('postgres://old');
  });

  it('fails listing missing and empty required variables', async () => {
    const context = withEnvs({ v1: {}, v2: { API_KEY: '', PORT: '3000' } });
    const params = envCheck.params.parse({ required: ['DATABASE_URL', 'API_KEY', 'PORT', 'REDIS_URL'] });
    const result = await envCheck.run(params, context);
    expect(result).toMatchObject({
      ok: false,
      summary:
        'v2 environment: missing DATABASE_URL, REDIS_URL; empty API_KEY; 2 added, 0 removed, 0 changed since v1',
      data: { missing: ['DATABASE_URL', 'REDIS_URL'], empty: ['API_KEY'] },
    });
  });

  it('fails when a forbidden variable is set, even to an empty value', async () => {
    const context = withEnvs({ v1: { DEBUG: '1' }, v2: { DEBUG: '' } });
    const result = await envCheck.run(
      envCheck.params.parse({ required: [], forbidden: ['DEBUG', 'PROFILE'] }),
      context,
    );
    expect(result).toMatchObject({
      ok: false,
      summary: 'v2 environment: forbidden but set DEBUG; 0 added, 0 removed, 1 changed since v1',
      data: { forbidden: ['DEBUG'] },
    });
    expect(result.output).toBe('since v1:\n~ DEBUG (changed)');
  });

  it('has no diff on a first release', async () => {
    const context = withEnvs({ v2: { DATABASE_URL: SECRET } }, null);
    const result = await envCheck.run(envCheck.params.parse({ required: ['DATABASE_URL'] }), context);
    expect(result).toEqual({
      ok: true,
      summary: '1 required variable set for v2',
      output: 'first release of web: no previous environment to compare',
      data: { version: 'v2', missing: [], empty: [], forbidden: [] },
    });
  });

  it('says so when nothing changed', async () => {
    const context = withEnvs({ v1: { PORT: '1' }, v2: { PORT: '1' } });
    const result = await envCheck.run(envCheck.params.parse({ required: ['PORT'] }), context);
    expect(result.output).toBe('no changes since v1');
  });
});
