import { describe, expect, it } from 'vitest';
import { redactUrl } from './redact.js';

describe('redactUrl', () => {
  it.each([
    ['postgres://app:s3cret@db:5432/orders', 'postgres://app:***@db:5432/orders'],
    ['postgresql://app:p%40ss@db/orders?sslmode=require', 'postgresql://app:***@db/orders?sslmode=require'],
    [
      'postgres://app@db/orders?password=s3cret&sslmode=require',
      'postgres://app@db/orders?password=***&sslmode=require',
    ],
    ['postgres://db/orders?sslpassword=k3y', 'postgres://db/orders?sslpassword=***'],
    ['https://cdn.example.com/purge?token=abc&path=/a', 'https://cdn.example.com/purge?token=***&path=%2Fa'],
    [
      'https://s3.example.com/b/o?X-Amz-Signature=f00&X-Amz-Date=1',
      'https://s3.example.com/b/o?X-Amz-Signature=***&X-Amz-Date=1',
    ],
    ['https://user:pw@cdn.example.com/ban?api_key=1', 'https://user:***@cdn.example.com/ban?api_key=***'],
    ['mysql://root:hunter2@127.0.0.1/app', 'mysql://root:***@127.0.0.1/app'],
  ])('hides the secrets of %s', (input, shown) => {
    expect(redactUrl(input)).toBe(shown);
    expect(redactUrl(input)).not.toMatch(/s3cret|p%40ss|k3y|abc&|f00|hunter2|pw@|api_key=1/);
  });

  it('returns text with nothing to hide exactly as it was', () => {
    for (const text of [
      'postgres://app@db/orders',
      'postgres://db:5432/orders?sslmode=require',
      'sqlite:.shipcheck/state.db',
      'app.db',
      'https://cdn.example.com/purge?path=/a',
    ]) {
      expect(redactUrl(text)).toBe(text);
    }
  });

  it('shows only the scheme of a URL that does not parse', () => {
    expect(redactUrl('postgres://app:s3cret@[bad/orders')).toBe('postgres://…');
    expect(redactUrl('not a url: s3cret')).toBe('not a url: s3cret');
  });
});
