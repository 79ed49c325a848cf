import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { duration } from '../../config/schema.js';
import { formatDuration } from '../../util/duration.js';
import { parseHostPort } from '../../util/net.js';
import type { CheckKind, CheckResult } from '../types.js';
import { errorMessage } from '../../errors.js';

const DEFAULT_HOST = '127.0.0.1';
const PORT_MAX = 65535;

const port = z.number().int().min(1, 'a port is 1-65535').max(PORT_MAX, 'a port is 1-65535');

const tcpParamsSchema = z
  .strictObject({
    host: z.string().min(1).optional().describe(`Host name or IP to connect to (default ${DEFAULT_HOST}).`),
    port: port.optional().describe('TCP port to connect to.'),
    address: z
      .string()
      .regex(/^(?:\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5}$/, 'expected host:port, e.g. db.internal:5432')
      .optional()
      .describe('host:port in one string, instead of host and port.'),
    timeout: duration.prefault('3s').describe('A connection that takes longer than this fails.'),
  })
  .superRefine((params, ctx) => {
    if (params.address !== undefined && (params.host !== undefined || params.port !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['address'],
        message: 'give address, or host and port, not both',
      });
    } else if (params.address === undefined && params.port === undefined) {
      ctx.addIssue({ code: 'custom', path: ['port'], message: 'give port (with host), or address' });
    } else if (params.address !== undefined) {
      const parsed = parseHostPort(params.address).port;
      if (parsed < 1 || parsed > PORT_MAX) {
        ctx.addIssue({ code: 'custom', path: ['address'], message: 'a port is 1-65535' });
      }
    }
  })
  .transform(({ host, port, address, timeout }) =>
    address === undefined
      ? { host: host ?? DEFAULT_HOST, port: port ?? 0, timeout }
      : { ...parseHostPort(address), timeout },
  );

/** Validated `tcp` params: `address` is split into host and port; durations in ms. */
export type TcpParams = z.output<typeof tcpParamsSchema>;

/** `tcp`: a TCP connection opens to host:port within the timeout (a database, a cache, a queue). */
export const tcpCheck: CheckKind<TcpParams> = {
  kind: 'tcp',
  params: tcpParamsSchema,
  async run(params, context): Promise<CheckResult> {
    const label = params.host.includes(':')
      ? `[${params.host}]:${params.port}`
      : `${params.host}:${params.port}`;
    if (context.signal.aborted) return { ok: false, summary: `${label}: aborted` };
    const startedAt = performance.now();
    const outcome = await new Promise<{ ok: true } | { ok: false; error: string }>((resolve) => {
      const socket = net.connect({ host: params.host, port: params.port });
      const finish = (result: { ok: true } | { ok: false; error: string }): void => {
        clearTimeout(timer);
        context.signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve(result);
      };
      const onAbort = (): void => finish({ ok: false, error: `${label}: aborted` });
      const timer = setTimeout(
        () =>
          finish({ ok: false, error: `${label}: no connection within ${formatDuration(params.timeout)}` }),
        params.timeout,
      );
      context.signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => finish({ ok: true }));
      // Node's message already names the address: `connect ECONNREFUSED 127.0.0.1:9`.
      socket.once('error', (err) => finish({ ok: false, error: errorMessage(err) }));
    });
    const latencyMs = Math.round(performance.now() - startedAt);
    const data = { host: params.host, port: params.port, latencyMs };
    if (!outcome.ok) return { ok: false, summary: outcome.error, data };
    return {
      ok: true,
      summary: `${label} reachable in ${formatDuration(latencyMs)}`,
      value: latencyMs,
      data,
    };
  },
};
