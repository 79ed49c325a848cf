import type { CheckKind } from '../types.js';
import { backupAgeCheck } from './backup-age.js';
import { backupRestoreCheck } from './backup-restore.js';
import { cdnPurgeCheck } from './cdn-purge.js';
import { commandCheck } from './command.js';
import { deployWindowCheck } from './deploy-window.js';
import { envCheck } from './env.js';
import { httpCheck } from './http.js';
import { journeyCheck } from './journey.js';
import { logsCheck } from './logs.js';
import { manualCheck } from './manual.js';
import { metricsCheck } from './metrics.js';
import { promotedCheck, rehearsedCheck } from './promotion.js';
import { migrationRehearsalCheck } from './migration-rehearsal.js';
import { resourcesCheck } from './resources.js';
import { rollbackPlanCheck } from './rollback-plan.js';
import { rolloutStepCheck } from './rollout-step.js';
import { sqlCheck } from './sql.js';
import { tcpCheck } from './tcp.js';
import { tlsCheck } from './tls.js';
import { triggerCheck } from './trigger.js';

/** Every check kind this version of shipcheck can run, by name. */
export function checkKinds(): ReadonlyMap<string, CheckKind<unknown>> {
  const kinds = [
    manualCheck,
    httpCheck,
    journeyCheck,
    commandCheck,
    tcpCheck,
    tlsCheck,
    sqlCheck,
    metricsCheck,
    deployWindowCheck,
    resourcesCheck,
    envCheck,
    logsCheck,
    rollbackPlanCheck,
    triggerCheck,
    rolloutStepCheck,
    migrationRehearsalCheck,
    backupAgeCheck,
    backupRestoreCheck,
    cdnPurgeCheck,
    promotedCheck,
    rehearsedCheck,
  ] as CheckKind<unknown>[];
  return new Map(kinds.map((k) => [k.kind, k]));
}
