import { describe, expect, it } from 'vitest';
import { templateFolder } from '../../../test/support/template-files.js';

const { write, load, problemsOf } = templateFolder();

describe('the maintenance kinds in a template', () => {
  it('load with their params, and a bad param is reported at its line', async () => {
    const file = await write(
      'maintenance.yaml',
      `items:
  - id: m/security
    section: M
    title: Security patches
    kind: vulnerabilities
    gate: scheduled
    params: { source: yum, failOn: severe }
  - id: m/deps
    section: M
    title: Dependency updates
    kind: outdated
    gate: scheduled
    params: { maxMajorBehind: -1, ignore: lodash }
  - id: m/certs
    section: M
    title: Certificate renewal
    kind: certificates
    gate: scheduled
    params: { extra: [http://example.com/], minDays: 7 }
`,
    );
    expect(await problemsOf('maintenance.yaml')).toEqual([
      `${file}:7:23: items[0].params.source: expected one of npm, apt, got "yum"`,
      `${file}:7:36: items[0].params.failOn: expected one of low, moderate, high, critical, got "severe"`,
      `${file}:13:31: items[1].params.maxMajorBehind: must be at least 0, got -1`,
      `${file}:13:43: items[1].params.ignore: expected a list, got string "lodash"`,
      `${file}:19:23: items[2].params.extra[0]: expected an https:// URL, got "http://example.com/"`,
    ]);

    await write(
      'good.yaml',
      `items:
  - id: m/security
    section: M
    title: Security patches
    kind: vulnerabilities
    gate: scheduled
    params: { source: apt, maxSecurityUpgrades: 3 }
  - id: m/certs
    section: M
    title: Certificate renewal
    kind: certificates
    gate: scheduled
`,
    );
    expect((await load('good.yaml')).items.map((item) => item.kind)).toEqual([
      'vulnerabilities',
      'certificates',
    ]);
  });
});
