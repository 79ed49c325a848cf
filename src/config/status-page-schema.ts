/** The public status page: its name and components, each mapped to services. */
import { z } from 'zod';

/** The public status page; absent means no status page is served. */
export const statusPageSchema = z
  .strictObject({})
  .optional()
  .describe('The public status page: its name and its components, each mapped to services.');

export type StatusPageConfig = z.output<typeof statusPageSchema>;
