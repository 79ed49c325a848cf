import { describe, expect, it } from 'vitest';
import { safeReturnPath } from './return-path.js';

describe('safeReturnPath', () => {
  it('keeps a local page path with its query and fragment', () => {
    expect(safeReturnPath('/releases/12')).toBe('/releases/12');
    expect(safeReturnPath('/history?service=web#top')).toBe('/history?service=web#top');
    expect(safeReturnPath('/')).toBe('/');
  });

  it('writes what it keeps percent-encoded, so it is safe in a page', () => {
    expect(safeReturnPath('/a b/"<x>"')).toBe('/a%20b/%22%3Cx%3E%22');
    expect(safeReturnPath('/releases/../history')).toBe('/history');
  });

  it('turns anything that could leave this server into /', () => {
    for (const text of [
      '//evil.example',
      '///evil.example',
      '/\\evil.example',
      '\\\\evil.example',
      'https://evil.example',
      'http:/evil.example',
      'javascript:alert(1)',
      'evil.example/path',
      '/\t/evil.example',
      '/\n/evil.example',
      '/a/..//evil.example',
      '/%2e%2e//evil.example',
      '',
      undefined,
      ['/releases/1'],
      '/'.padEnd(2000, 'a'),
    ])
      expect(safeReturnPath(text), JSON.stringify(text)).toBe('/');
  });

  it('turns an API path into /: the browser goes back to a page', () => {
    expect(safeReturnPath('/api/v1/auth/oidc/login')).toBe('/');
    expect(safeReturnPath('/api?x=1')).toBe('/');
    expect(safeReturnPath('/apis')).toBe('/apis');
  });
});
