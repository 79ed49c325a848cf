/**
 * A release's checklist by gate: each item's state, its latest evidence, who signed or waived it, and
 * the sign, waive and re-run buttons the user's role allows. Every change goes through a confirmation
 * (which asks for a TOTP code where the API wants one); the page updates from the event stream.
 */
import { rerunItem, signGate, signItem, waiveItem } from '../api/resources.js';
import type { ChecklistItem, ChecklistView, Evidence, Release } from '../api/types.js';
import { formatTime, isEnded } from '../format.js';
import { environmentOf, mayDo, useSession } from '../session.js';
import {
  type ChecklistRole,
  type GateGroup,
  groupByGate,
  itemActions,
  maySignGate,
} from './checklist-actions.js';
import { type ConfirmRequest, useConfirm } from './confirm-dialog.js';
import { StateBadge } from './state-badge.js';

/** The checklist of `release` (`checklist` as the API answered it), by gate. */
export function ChecklistGates({ release, checklist }: { release: Release; checklist: ChecklistView }) {
  const { session } = useSession();
  const { confirm, dialog } = useConfirm();
  const env = environmentOf(release.service);
  const role: ChecklistRole = {
    mayApprove: mayDo(session.user.roles, 'approver', env),
    mayDeploy: mayDo(session.user.roles, 'deployer', env),
    ended: isEnded(release.state),
  };
  const groups = groupByGate(checklist.items);
  if (groups.length === 0) return <p className="muted">This release has no checklist.</p>;

  return (
    <div className="checklist-gates">
      {groups.map((group) => (
        <GateSection
          key={group.gate}
          group={group}
          current={group.gate === checklist.gate}
          release={release}
          role={role}
          confirm={confirm}
          signAll={maySignGate(group, checklist.gate, role)}
        />
      ))}
      {dialog}
    </div>
  );
}

/** Whether a gate's items hold something a person should look at: a failure, or an open question. */
function needsAPerson(group: GateGroup): boolean {
  return group.items.some(
    (i) => i.state === 'failed' || i.state === 'inconclusive' || (!i.automated && i.state === 'pending'),
  );
}

/** `12 items: 9 passed, 2 pending, 1 failed`. */
function gateSummary(group: GateGroup): string {
  const counts = new Map<string, number>();
  for (const item of group.items) counts.set(item.state, (counts.get(item.state) ?? 0) + 1);
  const parts = [...counts].map(([state, n]) => `${n} ${state.replaceAll('-', ' ')}`);
  const items = group.items.length === 1 ? '1 item' : `${group.items.length} items`;
  return `${items}: ${parts.join(', ')}`;
}

function GateSection(props: {
  group: GateGroup;
  current: boolean;
  release: Release;
  role: ChecklistRole;
  confirm: (request: ConfirmRequest) => void;
  signAll: boolean;
}) {
  const { group, current, release, role, confirm } = props;
  const headingId = `gate-${group.gate}`;
  const pending = group.items.filter((i) => !i.automated && i.state === 'pending');
  return (
    <section className={current ? 'gate gate-current' : 'gate'} aria-labelledby={headingId}>
      <div className="gate-head">
        <h3 id={headingId}>
          {group.gate}
          {current && <span className="gate-here"> (the release is at this gate)</span>}
        </h3>
        {props.signAll && (
          <button
            type="button"
            onClick={() =>
              confirm({
                title: `Sign the ${group.gate} gate?`,
                body: (
                  <p>
                    Sign {pending.length} manual {pending.length === 1 ? 'item' : 'items'} of the {group.gate}{' '}
                    gate of release #{release.id} as you: {pending.map((i) => i.title).join(', ')}. Automated
                    checks are left as they are.
                  </p>
                ),
                confirmLabel: 'Sign all',
                reason: { label: 'Note', required: false },
                run: async ({ reason, otp }) => {
                  await signGate(release.service, reason, otp);
                },
              })
            }
          >
            Sign all at this gate
          </button>
        )}
      </div>
      {/* A gate the release is at, or one with something for a person, is open; the others fold
          away, so the default template's sixty items do not bury the rest of the page. */}
      <details className="gate-items" open={current || needsAPerson(group)}>
        <summary>{gateSummary(group)}</summary>
        <ul className="checklist-items">
          {group.items.map((item) => (
            <ItemRow key={item.id} item={item} release={release} role={role} confirm={confirm} />
          ))}
        </ul>
      </details>
    </section>
  );
}

function ItemRow(props: {
  item: ChecklistItem;
  release: Release;
  role: ChecklistRole;
  confirm: (request: ConfirmRequest) => void;
}) {
  const { item, release, role, confirm } = props;
  const latest = item.evidence.at(-1);
  const actions = itemActions(item, role);
  const unit = release.service;

  const sign = (): void =>
    confirm({
      title: `Sign ${item.title}?`,
      body: (
        <p>
          Sign "{item.title}" ({item.id}) of release #{release.id} as you: it passes, and the audit log
          records your name and note.
        </p>
      ),
      confirmLabel: 'Sign',
      reason: { label: 'Note', required: false },
      run: async ({ reason, otp }) => {
        await signItem(unit, item.id, reason, otp);
      },
    });
  const waive = (): void =>
    confirm({
      title: `Waive ${item.title}?`,
      body: (
        <p>
          Waive "{item.title}" ({item.id}) of release #{release.id}: it no longer holds the {item.gate} gate,
          and the audit log records your name and reason.
        </p>
      ),
      confirmLabel: 'Waive',
      danger: true,
      reason: { label: 'Reason', required: true },
      run: async ({ reason, otp }) => {
        await waiveItem(unit, item.id, reason, otp);
      },
    });
  const rerun = (): void =>
    confirm({
      title: `Re-run ${item.title}?`,
      body: (
        <p>
          Run the check "{item.title}" ({item.id}) of release #{release.id} again: it goes back to pending and
          its new result is added to its evidence.
        </p>
      ),
      confirmLabel: 'Re-run',
      run: async ({ otp }) => {
        await rerunItem(unit, item.id, otp);
      },
    });
  const handlers = { sign, waive, rerun };
  const labels = { sign: 'Sign', waive: 'Waive', rerun: 'Re-run' };

  return (
    <li className="checklist-item">
      <div className="item-head">
        <span className="item-title">{item.title}</span>
        <StateBadge state={item.state} />
      </div>
      <p className="item-meta muted">
        {item.section} · {item.kind === 'manual' ? '' : `${item.kind} · `}
        {item.automated ? 'automated' : 'manual'} · <span className="mono">{item.id}</span>
      </p>
      {latest && <EvidenceView item={item} evidence={latest} />}
      {item.hint && <p className="item-hint">Hint: {item.hint}</p>}
      {actions.length > 0 && (
        <div className="item-actions">
          {actions.map((action) => (
            <button
              key={action}
              type="button"
              aria-label={`${labels[action]} ${item.title}`}
              onClick={handlers[action]}
            >
              {labels[action]}
            </button>
          ))}
        </div>
      )}
    </li>
  );
}

function EvidenceView({ item, evidence }: { item: ChecklistItem; evidence: Evidence }) {
  const hasDetails =
    evidence.output !== undefined || evidence.value !== undefined || evidence.data !== undefined;
  const verb = item.state === 'waived' ? 'Waived' : item.state === 'passed' ? 'Signed' : 'Recorded';
  return (
    <div className="item-evidence">
      <p>
        <time dateTime={new Date(evidence.at).toISOString()}>{formatTime(evidence.at)}</time>{' '}
        {evidence.summary}
      </p>
      {evidence.by && (!item.automated || item.state === 'waived') && (
        <p className="item-signer">
          {verb} by <strong>{evidence.by}</strong>
          {evidence.note ? `: “${evidence.note}”` : ''}
        </p>
      )}
      {hasDetails && (
        <details>
          <summary>Evidence details</summary>
          {evidence.value !== undefined && <p>Value: {evidence.value}</p>}
          {evidence.output !== undefined && <pre className="item-output">{evidence.output}</pre>}
          {evidence.data !== undefined && (
            <pre className="item-output">{JSON.stringify(evidence.data, null, 2)}</pre>
          )}
        </details>
      )}
    </div>
  );
}
