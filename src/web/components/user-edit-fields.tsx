/**
 * The inputs of the People page's edit dialogs. They sit inside a confirmation dialog whose `run`
 * reads them through refs when it is confirmed, so they keep their own state.
 */
import type { RefObject } from 'react';
import { formatCommaList } from '../comma-list.js';
import { MIN_PASSWORD_LENGTH } from './add-user-form.js';

/** Comma-separated roles and groups, filled with the user's current ones. */
export function RolesAndGroupsFields({
  roles,
  groups,
  rolesRef,
  groupsRef,
}: {
  roles: readonly string[];
  groups: readonly string[];
  rolesRef: RefObject<HTMLInputElement | null>;
  groupsRef: RefObject<HTMLInputElement | null>;
}) {
  return (
    <>
      <label className="field">
        <span>Roles</span>
        <input
          ref={rolesRef}
          defaultValue={formatCommaList(roles)}
          required
          placeholder="deployer@staging, viewer"
        />
      </label>
      <label className="field">
        <span>Groups</span>
        <input ref={groupsRef} defaultValue={formatCommaList(groups)} placeholder="sre, release-manager" />
      </label>
    </>
  );
}

/** A new password for someone else. */
export function NewPasswordField({ passwordRef }: { passwordRef: RefObject<HTMLInputElement | null> }) {
  return (
    <label className="field">
      <span>New password</span>
      <input
        ref={passwordRef}
        type="password"
        required
        minLength={MIN_PASSWORD_LENGTH}
        maxLength={1024}
        autoComplete="new-password"
      />
    </label>
  );
}
