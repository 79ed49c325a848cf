/**
 * The buttons that move a release (promote, pause, resume, abort, roll back), each through a
 * confirmation that says what will happen. The page updates from the event stream afterwards.
 */
import { control } from '../api/resources.js';
import type { Release } from '../api/types.js';
import { navigate } from '../router.js';
import { environmentOf, mayDo, useSession } from '../session.js';
import { useConfirm } from './confirm-dialog.js';
import { ACTION_LABELS, type ReleaseAction, actionText, releaseActions } from './release-actions.js';

/** Runs `action` on the unit's active release (or rolls back its last one). */
async function perform(action: ReleaseAction, release: Release, otp: string | undefined): Promise<void> {
  const options = otp ? { otp } : {};
  switch (action) {
    case 'promote':
      await control(release.service, 'promote', { ...options, full: false });
      return;
    case 'promote-full':
      await control(release.service, 'promote', { ...options, full: true });
      return;
    case 'rollback': {
      // A rollback is a new release: its page is where it can be watched.
      const started = await control(release.service, 'rollback', options);
      navigate(`/releases/${started.id}`);
      return;
    }
    default:
      await control(release.service, action, options);
  }
}

/** The controls that apply to `release` for the signed-in user; nothing for a viewer. */
export function ReleaseControls({ release, isLast }: { release: Release; isLast: boolean }) {
  const { session } = useSession();
  const { confirm, dialog } = useConfirm();
  const mayDeploy = mayDo(session.user.roles, 'deployer', environmentOf(release.service));
  const actions = releaseActions(release, { mayDeploy, isLast });

  const ask = (action: ReleaseAction): void => {
    const text = actionText(action, release);
    confirm({
      title: text.title,
      body: <p>{text.body}</p>,
      confirmLabel: ACTION_LABELS[action].confirm,
      danger: text.danger,
      run: ({ otp }) => perform(action, release, otp),
    });
  };

  // The dialog stays mounted in one place while the release it acts on changes under it.
  return (
    <>
      {actions.length > 0 && (
        <div className="release-controls toolbar" role="group" aria-label="Release controls">
          {actions.map((action) => (
            <button
              key={action}
              type="button"
              className={action === 'abort' || action === 'rollback' ? 'danger' : undefined}
              onClick={() => ask(action)}
            >
              {ACTION_LABELS[action].button}
            </button>
          ))}
        </div>
      )}
      {dialog}
    </>
  );
}
