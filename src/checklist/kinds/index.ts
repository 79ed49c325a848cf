/**
 * The registry of check kinds: the one place that says which kinds exist. Template loading accepts
 * the kinds listed here and the planned ones (template-params.ts), and the checklist runs them.
 */
import type { CheckKind } from '../types.js';
import { backupAgeCheck } from './backup-age.js';
import { baselineCheck } from './baseline.js';
import { keyAgeCheck } from './key-age.js';
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
import { notifyCheck } from './notify.js';
import { oncallCheck } from './oncall.js';
import { promotedCheck, rehearsedCheck } from './promotion.js';
import { migrationRehearsalCheck } from './migration-rehearsal.js';
import { resourcesCheck } from './resources.js';
import { rollbackPlanCheck } from './rollback-plan.js';
import { rolloutStepCheck } from './rollout-step.js';
import { sqlCheck } from './sql.js';
import { statusPageCheck } from './status-page.js';
import { tcpCheck } from './tcp.js';
import { tlsCheck } from './tls.js';
import { triggerCheck } from './trigger.js';
import { queriesCheck } from './queries.js';
import { cacheCheck } from './cache.js';
import { vulnerabilitiesCheck } from './vulnerabilities.js';
import { outdatedCheck } from './outdated.js';
import { certificatesCheck } from './certificates.js';
import { capacityCheck } from './capacity.js';
import { catalogCheck } from './catalog.js';

/**
 * Kinds a template may name before this build can run them: an item of such a kind loads fine and
 * resolves to a sign-off, so a template is never refused for it. None at present; with the kinds
 * below, these are every kind a template may name.
 */
export const PLANNED_KIND_NAMES: readonly string[] = [];

/** Every check kind this version of shipcheck can run, by name (each module names its own kind). */
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
    keyAgeCheck,
    backupRestoreCheck,
    cdnPurgeCheck,
    promotedCheck,
    rehearsedCheck,
    notifyCheck,
    statusPageCheck,
    oncallCheck,
    queriesCheck,
    cacheCheck,
    vulnerabilitiesCheck,
    outdatedCheck,
    certificatesCheck,
    capacityCheck,
    catalogCheck,
    baselineCheck,
  ] as CheckKind<unknown>[];
  return new Map(kinds.map((k) => [k.kind, k]));
}
