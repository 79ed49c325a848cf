import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.js';
import { Bodies, jsonContentTypeProblem, parseBody } from './bodies.js';
import { scaleBody } from './scaling-routes.js';
import { inputErrorMessage } from '../../test/support/errors.js';

describe('jsonContentTypeProblem', () => {
  it('takes application/json, with charset=utf-8 at most, however it is written', () => {
    for (const ok of [
      'application/json',
      'Application/JSON',
      'application/json; charset=utf-8',
      'application/json;charset=UTF-8',
      'application/json; charset="utf-8"',
      'application/json;',
    ]) {
      expect(jsonContentTypeProblem(ok), ok).toBeUndefined();
    }
  });

  it('refuses what a browser sends cross-site without asking, and anything else', () => {
    expect(jsonContentTypeProblem(undefined)).toBe('no content-type was sent');
    expect(jsonContentTypeProblem('  ')).toBe('no content-type was sent');
    expect(jsonContentTypeProblem('text/plain')).toBe('got content-type "text/plain"');
    for (const bad of [
      'text/plain;charset=UTF-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/jsonp',
      'application/json-patch+json',
      'application/vnd.api+json',
    ]) {
      expect(jsonContentTypeProblem(bad), bad).toMatch(/^got content-type/);
    }
    expect(jsonContentTypeProblem('application/json; charset=latin1')).toMatch(
      /the only parameter accepted is charset=utf-8$/,
    );
    expect(jsonContentTypeProblem('application/json; boundary=x')).toMatch(/charset=utf-8$/);
  });
});

describe('parseBody', () => {
  it('takes versions that read as neither an option nor a path', () => {
    for (const version of ['1.4.2', 'v2+build.1', '2026-12-06_rc1', 'A', '9', 'v'.repeat(128)]) {
      expect(parseBody(Bodies.deploy, { version })).toEqual({ version });
    }
    for (const version of [
      '--help',
      '-rf',
      '.',
      '..',
      'a..b',
      '',
      '_x',
      '+1',
      'v1 ',
      'v/1',
      'v'.repeat(129),
    ]) {
      expect(() => parseBody(Bodies.deploy, { version }), version).toThrow(InputError);
    }
    expect(inputErrorMessage(() => parseBody(Bodies.deploy, { version: '--help' }))).toBe(
      'version "--help" is not valid: a version starts with a letter or a digit and holds only letters, digits, ".", "_", "+" and "-", with no ".."',
    );
  });

  it('takes no signer name: a signature records who is signed in, never a name the caller typed', () => {
    expect(parseBody(Bodies.sign, { item: 'x' })).toEqual({ item: 'x' });
    expect(inputErrorMessage(() => parseBody(Bodies.sign, { item: 'x', by: 'mallory' }))).toBe(
      'unknown field "by" (this route takes item, note)',
    );
  });

  it('lists several problems, unknown fields first, and counts the rest', () => {
    expect(inputErrorMessage(() => parseBody(Bodies.waive, { a: 1, b: 2 }))).toBe(
      'unknown fields "a", "b" (this route takes item, reason); item: required; reason: required',
    );
    expect(
      inputErrorMessage(() =>
        parseBody(Bodies.none, Object.fromEntries([1, 2, 3, 4, 5, 6, 7].map((n) => [`k${n}`, n]))),
      ),
    ).toBe('unknown fields "k1", "k2", "k3", "k4", "k5", "k6", "k7" (this route takes no fields: send {})');
    expect(inputErrorMessage(() => parseBody(Bodies.sign, { item: 1, note: 3, x: 4 }))).toBe(
      'unknown field "x" (this route takes item, note); item: expected a string, got number 1; ' +
        'note: expected a string, got number 3',
    );
    expect(inputErrorMessage(() => parseBody(Bodies.sign, { item: '', nite: 5 }))).toBe(
      'unknown field "nite"; did you mean "note"?; item: must not be empty',
    );
    // A number out of its range says the range and what was sent, not "empty" or "characters"
    expect(inputErrorMessage(() => parseBody(scaleBody, { instances: 0 }))).toBe(
      'instances: must be at least 1, got 0',
    );
    expect(inputErrorMessage(() => parseBody(scaleBody, { instances: 5000 }))).toBe(
      'instances: must be at most 1000, got 5000',
    );
    const typos = { iteem: 1, itme: 1, itm: 1, noet: 1, nots: 1, nte: 1 };
    expect(inputErrorMessage(() => parseBody(Bodies.sign, typos))).toMatch(
      /^unknown field "iteem"; did you mean "item"\?; .*; and 2 more$/,
    );
  });
});
