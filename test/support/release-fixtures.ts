import type { ReleaseView } from '../../src/engine/views.js';
import type { ChecklistItemRow } from '../../src/store/types.js';

const CREATED_AT = 1_700_000_000_000;

/** A release as the API shows it, for tests of what is said about it: v2 replacing v1, at canary step 1/4. */
export function releaseView(overrides: Partial<ReleaseView> = {}): ReleaseView {
  return {
    id: 4,
    service: 'web',
    version: 'v2',
    fromVersion: 'v1',
    kind: 'deploy',
    state: 'progressing',
    phase: 'canary',
    step: 0,
    steps: 4,
    stepName: 'setWeight 10',
    plan: ['setWeight 10', 'pause 30s', 'setWeight 50', 'pause 30s'],
    weight: 10,
    reason: null,
    outcome: null,
    stepStartedAt: CREATED_AT,
    phaseStartedAt: CREATED_AT,
    createdAt: CREATED_AT,
    updatedAt: CREATED_AT,
    endedAt: null,
    ...overrides,
  };
}

/** A checklist item of release #4, pending at the verify gate, signed by hand. */
export function checklistItem(overrides: Partial<ChecklistItemRow> = {}): ChecklistItemRow {
  return {
    releaseId: 4,
    id: 'verification/item',
    position: 0,
    section: 'Verification',
    title: 'An item',
    kind: 'manual',
    gate: 'verify',
    params: {},
    hint: null,
    automated: false,
    state: 'pending',
    evidence: [],
    updatedAt: CREATED_AT,
    ...overrides,
  };
}
