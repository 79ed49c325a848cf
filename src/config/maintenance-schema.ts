/** A service's maintenance settings: what the scheduled checks between releases hold it to. */
import { z } from 'zod';

/** The `maintenance` block of a service (or environment). */
export const maintenanceSchema = z
  .strictObject({
    certMinDays: z
      .number()
      .int()
      .min(0)
      .prefault(21)
      .describe(
        'Certificate renewal fails once an HTTPS endpoint’s certificate expires in fewer days than this.',
      ),
  })
  .prefault({})
  .describe('Settings of the scheduled checks that run between releases.');
