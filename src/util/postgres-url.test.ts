import { describe, expect, it } from 'vitest';
import {
  databaseOf,
  forLibpq,
  isPostgresUrl,
  libpqEnv,
  namedDatabase,
  withDatabase,
} from './postgres-url.js';

describe('PostgreSQL URLs', () => {
  it('tells a PostgreSQL URL from a SQLite path', () => {
    expect(isPostgresUrl('postgres://db/app')).toBe(true);
    expect(isPostgresUrl('postgresql://db/app')).toBe(true);
    expect(isPostgresUrl('sqlite:app.db')).toBe(false);
    expect(isPostgresUrl('app.db')).toBe(false);
  });

  it('names the database a connection uses, as libpq does', () => {
    expect(databaseOf('postgres://app:pw@db/orders')).toBe('orders');
    expect(databaseOf('postgres://app@db')).toBe('app');
    expect(databaseOf('postgres://db')).toBe('postgres');
    expect(databaseOf('postgres://db/my%20db')).toBe('my db');
    expect(namedDatabase('postgres://app@db')).toBeUndefined();
  });

  it('points a URL at another database, keeping everything else', () => {
    expect(withDatabase('postgres://app:pw@db:5433/orders?sslmode=require', 'scratch 1')).toBe(
      'postgres://app:pw@db:5433/scratch%201?sslmode=require',
    );
  });

  it('takes the password out of the userinfo or the query, for PGPASSWORD, and encodes the query for libpq', () => {
    expect(forLibpq('postgres://app:p%40ss@db/orders?sslmode=require')).toEqual({
      uri: 'postgres://app@db/orders?sslmode=require',
      password: 'p@ss',
    });
    expect(forLibpq('postgres://app@db/orders?password=s3cret&application_name=a+b')).toEqual({
      uri: 'postgres://app@db/orders?application_name=a%20b',
      password: 's3cret',
    });
    expect(forLibpq('postgres://app@db/orders')).toEqual({
      uri: 'postgres://app@db/orders',
      password: undefined,
    });
    expect(libpqEnv('s3cret').PGPASSWORD).toBe('s3cret');
    expect(libpqEnv(undefined).PGPASSWORD).toBe(process.env.PGPASSWORD);
  });
});
