import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import { unitName } from '../../domain/release.js';
import type { InstanceRecordStore } from '../../store/types.js';
import { HooksFleet } from './hooks/hooks-fleet.js';
import { LocalFleet } from './local/local-fleet.js';
import type { Drainer, Fleet } from './types.js';

/** What a fleet needs besides its own config section. */
export interface FleetContext {
  service: string;
  environment: string | undefined;
  /** The service file's folder; `fleet.cwd` resolves here. */
  dir: string;
  /** Where local instances write their logs. */
  logDir: string;
  records: InstanceRecordStore;
  drainer: Drainer;
  logger: Logger;
}

/** The fleet `fleet.kind` names. */
export function createFleet(fleet: Config['fleet'], context: FleetContext): Fleet {
  const { service, environment, dir, drainer, logger } = context;
  const health = {
    path: fleet.health.path,
    intervalMs: fleet.health.interval,
    timeoutMs: fleet.health.timeout,
    unhealthyAfter: fleet.health.unhealthyAfter,
  };
  const cwd = path.resolve(dir, fleet.cwd ?? '.');
  switch (fleet.kind) {
    case 'local':
      return new LocalFleet({
        service: unitName(service, environment),
        command: fleet.command,
        cwd,
        env: fleet.env,
        stopTimeoutMs: fleet.stopTimeout,
        health,
        logDir: context.logDir,
        records: context.records,
        drainer,
        logger,
      });
    case 'hooks':
      return new HooksFleet({
        service,
        ...(environment ? { environment } : {}),
        hooks: {
          start: fleet.hooks.start,
          stop: fleet.hooks.stop,
          list: fleet.hooks.list,
          timeoutMs: fleet.hooks.timeout,
        },
        cwd,
        env: fleet.env,
        stopTimeoutMs: fleet.stopTimeout,
        health,
        drainer,
        logger,
      });
  }
}
