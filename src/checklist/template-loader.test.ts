import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { templateFolder } from '../../test/support/template-files.js';

const files = templateFolder();
const { write, load, problemsOf } = files;

const BASE = `name: base
items:
  - id: a/one
    section: A
    title: One
    kind: manual
    gate: pre-deploy
  - id: a/two
    section: A
    title: Two
    kind: http
    gate: verify
    params: { url: /healthz }
  - id: b/three
    section: B
    title: Three
    kind: command
    gate: post-deploy
    params: { run: npm test }
`;

describe('loadTemplate: built-ins and extension', () => {
  it('gives no items for none', async () => {
    expect(await load('none')).toMatchObject({ name: 'none', file: 'none', items: [], dropped: [] });
  });

  it('reads a file relative to the config folder, named after the file unless it says', async () => {
    await write('base.yaml', BASE);
    await write('plain.yaml', BASE.replace('name: base\n', ''));
    expect((await load('base.yaml')).name).toBe('base');
    const plain = await load('plain.yaml');
    expect(plain.name).toBe('plain');
    expect(plain.file).toBe(path.join(files.dir, 'plain.yaml'));
    expect(plain.items.map((item) => item.id)).toEqual(['a/one', 'a/two', 'b/three']);
    expect(plain.items[1]).toEqual({
      id: 'a/two',
      section: 'A',
      title: 'Two',
      kind: 'http',
      gate: 'verify',
      params: { url: '/healthz' },
    });
  });

  it('adds items at the end of their section, replaces in place, and keeps drops with their reasons', async () => {
    await write('base.yaml', BASE);
    const file = await write(
      'team.yaml',
      `extends: base.yaml
items:
  - id: a/four
    section: A
    title: Four
    kind: manual
    gate: canary
  - id: a/one
    kind: http
    gate: pre-deploy
    params: { url: /ping }
  - id: c/five
    section: C
    title: Five
    kind: manual
    gate: scheduled
drop:
  - id: b/three
    reason: this service has no test suite
`,
    );
    const template = await load('team.yaml');
    expect(template.name).toBe('team');
    expect(template.items.map((item) => item.id)).toEqual(['a/one', 'a/two', 'a/four', 'c/five']);
    // A replacement stands for the same seed line: it keeps the base's section and title.
    expect(template.items[0]).toEqual({
      id: 'a/one',
      section: 'A',
      title: 'One',
      kind: 'http',
      gate: 'pre-deploy',
      params: { url: '/ping' },
    });
    expect(template.dropped).toEqual([
      {
        id: 'b/three',
        section: 'B',
        title: 'Three',
        kind: 'command',
        gate: 'post-deploy',
        params: { run: 'npm test' },
        reason: 'this service has no test suite',
        droppedIn: file,
      },
    ]);
    expect(template.locations.get('a/one')).toBe(`${file}:8:5`);
    expect(template.locations.get('a/two')).toBe(`${path.join(files.dir, 'base.yaml')}:8:5`);
  });

  it('extends the default and a chain of files, carrying drops along', async () => {
    await write(
      'org.yaml',
      `extends: default
drop:
  - id: pre-deployment/infrastructure/cdn
    reason: no CDN in front of this service
`,
    );
    await write(
      'team.yaml',
      `extends: org.yaml
items:
  - id: pre-deployment/infrastructure/message-queue
    section: Pre-Deployment / Infrastructure
    title: Message queue
    kind: manual
    gate: pre-deploy
`,
    );
    const template = await load('team.yaml');
    const ids = template.items.map((item) => item.id);
    expect(ids).toHaveLength(75);
    expect(ids).not.toContain('pre-deployment/infrastructure/cdn');
    expect(ids.indexOf('pre-deployment/infrastructure/message-queue')).toBe(
      ids.indexOf('pre-deployment/infrastructure/confirm-monitoring-and-alerting-are-configured') + 1,
    );
    expect(template.dropped.map((item) => [item.id, item.reason])).toEqual([
      ['pre-deployment/infrastructure/cdn', 'no CDN in front of this service'],
    ]);
  });
});

describe('loadTemplate: every problem at once, as file:line:col', () => {
  it('reports unknown kinds and gates, missing fields, repeated ids, bad drops and bad params', async () => {
    await write('base.yaml', BASE);
    const file = await write(
      'bad.yaml',
      `extends: base.yaml
items:
  - id: x/unknown-kind
    section: X
    title: Unknown kind
    kind: htpp
    gate: verify
  - id: x/unknown-gate
    section: X
    title: Unknown gate
    kind: manual
    gate: predeploy
  - id: x/missing-gate
    section: X
    title: Missing gate
    kind: manual
  - id: x/bad-params
    section: X
    title: Bad params
    kind: http
    gate: verify
    params: { url: healthz, expectStatus: "200", tagret: canary }
  - id: x/unknown-kind
    section: X
    title: Twice
    kind: manual
    gate: verify
drop:
  - id: a/tow
    reason: not here
  - id: b/three
`,
    );
    expect(await problemsOf('bad.yaml')).toEqual([
      `${file}:6:11: items[0].kind: unknown kind "htpp" (did you mean "http"?)`,
      `${file}:12:11: items[1].gate: unknown gate "predeploy" (did you mean "pre-deploy"?)`,
      `${file}:13:5: items[2].gate: required`,
      `${file}:22:20: items[3].params.url: expected an absolute http(s) URL or a path starting with /, got "healthz"`,
      `${file}:22:43: items[3].params.expectStatus: expected a number or a list, got string "200"`,
      `${file}:22:50: items[3].params: unknown key "tagret" (did you mean "target"?)`,
      `${file}:23:9: items[4].id: "x/unknown-kind" is already used by items[0] on line 3`,
      `${file}:29:9: drop[0].id: no item "a/tow" in the base template base.yaml (did you mean "a/two"?)`,
      `${file}:31:5: drop[1].reason: required; say why this item does not apply`,
    ]);
  });

  it('reports unknown keys, wrong types, bad ids and requires, and an empty reason', async () => {
    await write('base.yaml', BASE);
    const file = await write(
      'keys.yaml',
      `extends: base.yaml
itmes: []
items:
  - id: Not An Id
    section: X
    title: 3
    kind: manual
    gate: verify
    parms: {}
  - id: x/requires
    section: X
    title: Requires
    kind: http
    gate: verify
    params: { url: /x }
    requires: [backup, "not a key"]
  - just a string
drop:
  - id: a/two
    reason: ""
  - id: a/one
    reason: replaced and dropped
  - id: a/two
    reason: again
  - id: a/one
    reason: replaced and dropped
`,
    );
    expect(await problemsOf('keys.yaml')).toEqual([
      `${file}:2:1: unknown key "itmes"`,
      `${file}:4:9: items[0].id: expected a kebab-case id such as pre-deployment/testing/run-full-test-suite, got "Not An Id"`,
      `${file}:6:12: items[0].title: expected a string, got number 3`,
      `${file}:9:5: items[0]: unknown key "parms" (did you mean "params"?)`,
      `${file}:16:24: items[1].requires[1]: expected a config key such as backup or checklist.vars.healthPath, got "not a key"`,
      `${file}:17:5: items[2]: expected a mapping with id, section, title, kind and gate, got string "just a string"`,
      `${file}:20:13: drop[0].reason: must not be empty; say why this item does not apply`,
      `${file}:23:9: drop[2].id: "a/two" is already dropped by drop[0]`,
      `${file}:25:9: drop[3].id: "a/one" is already dropped by drop[1]`,
    ]);
  });

  it('refuses an id that is both replaced and dropped, and a drop without a base', async () => {
    await write('base.yaml', BASE);
    const both = await write(
      'both.yaml',
      `extends: base.yaml
items:
  - id: a/one
    kind: manual
    gate: verify
drop:
  - id: a/one
    reason: not needed
`,
    );
    expect(await problemsOf('both.yaml')).toEqual([
      `${both}:7:9: drop[0].id: "a/one" is also listed under items; replace it or drop it, not both`,
    ]);
    const orphan = await write('orphan.yaml', `${BASE}drop:\n  - id: a/one\n    reason: x\n`);
    expect(await problemsOf('orphan.yaml')).toEqual([
      `${orphan}:20:1: drop: needs "extends:"; without a base template there is nothing to drop`,
    ]);
  });

  it('requires section and title of a new item, and keeps a replacement in its section', async () => {
    await write('base.yaml', BASE);
    const file = await write(
      'fields.yaml',
      `extends: base.yaml
items:
  - id: x/new
    kind: manual
    gate: verify
  - id: a/two
    section: B
    kind: manual
    gate: verify
`,
    );
    expect(await problemsOf('fields.yaml')).toEqual([
      `${file}:3:5: items[0].section: required`,
      `${file}:3:5: items[0].title: required`,
      `${file}:7:14: items[1].section: "B" differs from the base item's section "A"; a replacement keeps its place, so drop the base item and add a new one to move it`,
    ]);
  });

  it("reports the base's problems with its own, and a base that is missing or loops", async () => {
    const base = await write('base.yaml', BASE.replace('kind: command', 'kind: comand'));
    const file = await write('child.yaml', 'extends: base.yaml\nitems:\n  - id: a/x\n    kind: manual\n');
    expect(await problemsOf('child.yaml')).toEqual([
      `${file}:3:5: items[0].gate: required`,
      `${base}:17:11: items[2].kind: unknown kind "comand" (did you mean "command"?)`,
    ]);

    const missing = await write('missing.yaml', 'extends: nowhere.yaml\n');
    expect(await problemsOf('missing.yaml')).toEqual([
      `${missing}:1:10: extends: ${path.join(files.dir, 'nowhere.yaml')}: no such file`,
    ]);

    await write('a.yaml', 'extends: b.yaml\n');
    const b = await write('b.yaml', 'extends: a.yaml\n');
    expect(await problemsOf('a.yaml')).toEqual([
      `${b}:1:10: extends: "a.yaml" closes a loop (a.yaml -> b.yaml -> a.yaml)`,
    ]);
  });

  it('reports a missing file, YAML syntax, an empty file and a top level that is not a mapping', async () => {
    expect(await problemsOf('absent.yaml')).toEqual([`${path.join(files.dir, 'absent.yaml')}: no such file`]);
    const syntax = await write('syntax.yaml', 'items:\n  - id: a\n  id: b\n');
    expect((await problemsOf('syntax.yaml'))[0]).toMatch(new RegExp(`^${syntax}:\\d+:\\d+: `));
    const duplicate = await write('duplicate.yaml', 'name: a\nname: b\nitems: []\n');
    expect(await problemsOf('duplicate.yaml')).toEqual([`${duplicate}:2:1: duplicate key "name"`]);
    const empty = await write('empty.yaml', '# nothing yet\n');
    expect(await problemsOf('empty.yaml')).toEqual([
      `${empty}:1:1: the file is empty; a template needs "items:" or "extends:"`,
    ]);
    const list = await write('list.yaml', '- id: a\n');
    expect(await problemsOf('list.yaml')).toEqual([
      `${list}:1:1: expected a mapping with "items:" at the top level, got a list`,
    ]);
    const bare = await write('bare.yaml', 'name: bare\n');
    expect(await problemsOf('bare.yaml')).toEqual([
      `${bare}:1:1: items: required; a template lists its items, or extends another one`,
    ]);
  });
});
