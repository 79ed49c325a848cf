/** The SQL dialect a migration targets, for the few types that differ (auto-increment keys). */
export type Dialect = 'sqlite' | 'postgres';
