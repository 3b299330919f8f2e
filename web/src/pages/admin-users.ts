/** Administration of users, groups and access grants (/api/admin/users, groups, grants). */
import { api, type User } from '../api';
import { clear, field, h, openDialog } from '../dom';
import { confirmAction, dataTable, formError, formatDateTime, loader, submitting } from './ui';

/** The roles of auth/permissions.py ROLE_PERMISSIONS. */
const ROLES = ['admin', 'radiologist', 'technologist', 'referring_physician', 'viewer'];

interface Group {
  name: string;
  description: string;
  members: string[];
}

interface Grant {
  id: number;
  kind: 'institution' | 'source_ae' | 'study';
  value: string;
  user: string | null;
  group: string | null;
  created_by: string;
}

function roleBoxes(prefix: string, checked: string[]): { element: HTMLElement; value: () => string[] } {
  const boxes = ROLES.map((role) => h('input', { type: 'checkbox', value: role, checked: checked.includes(role), 'data-testid': `${prefix}-${role}` }));
  return {
    element: h('fieldset', { className: 'roles' }, h('legend', {}, 'Roles'),
      ...boxes.map((box) => h('label', { className: 'check' }, box, ` ${box.value.replace('_', ' ')}`))),
    value: () => boxes.filter((b) => b.checked).map((b) => b.value),
  };
}

// --- users -------------------------------------------------------------------------

export function renderUsers(root: HTMLElement, _params: URLSearchParams, signal: AbortSignal): Promise<void> {
  const list = h('div');
  const error = formError('users-error');
  const reload = loader(error, async () => {
    const users = await api<User[]>('GET', '/api/admin/users', undefined, { signal });
    clear(list);
    list.append(dataTable('users-table', ['User name', 'Name', 'Roles', 'Status', 'Last login', ''], users.map((u) => userRow(u, error, reload))));
  });

  const username = h('input', { type: 'text', required: true, maxlength: 64, 'data-testid': 'user-add-username' });
  const displayName = h('input', { type: 'text', maxlength: 128, 'data-testid': 'user-add-display-name' });
  const password = h('input', { type: 'password', autocomplete: 'new-password', maxlength: 1024, placeholder: 'none: OpenID Connect only', 'data-testid': 'user-add-password' });
  const roles = roleBoxes('user-add-role', ['viewer']);
  const submit = h('button', { type: 'submit', 'data-testid': 'user-add-submit' }, 'Add user');
  const form = h('form', { className: 'inline-form', 'data-testid': 'user-add-form' },
    field('User name', username), field('Name', displayName), field('Password', password), roles.element, submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(submit, error, async () => {
      await api('POST', '/api/admin/users', {
        username: username.value.trim(), display_name: displayName.value.trim(),
        password: password.value || null, roles: roles.value(),
      });
      form.reset();
      await reload();
    });
  });
  root.append(h('h2', {}, 'Users'), list, error, h('h3', {}, 'Add a user'), form);
  return reload();
}

function userRow(user: User, error: HTMLElement, reload: () => Promise<void>): HTMLTableRowElement {
  const path = `/api/admin/users/${encodeURIComponent(user.username)}`;
  const toggle = h('button', { type: 'button', 'data-testid': 'user-toggle' }, user.disabled ? 'Enable' : 'Disable');
  toggle.addEventListener('click', () => void submitting(toggle, error, async () => {
    await api('PATCH', path, { disabled: !user.disabled });
    await reload();
  }));
  const edit = h('button', { type: 'button', 'data-testid': 'user-edit', onclick: () => editUser(user, reload) }, 'Edit…');
  const reset = h('button', { type: 'button', 'data-testid': 'user-reset-password', onclick: () => resetPassword(user) }, 'Reset password…');
  return h('tr', { 'data-testid': 'user-row', 'data-username': user.username, className: user.disabled ? 'disabled' : '' },
    h('td', {}, user.username), h('td', {}, user.display_name),
    h('td', { 'data-testid': 'user-roles-cell' }, user.roles.join(', ')),
    h('td', { 'data-testid': 'user-status' }, user.disabled ? 'Disabled' : 'Enabled'),
    h('td', {}, formatDateTime(user.last_login_at) || 'never'),
    h('td', {}, h('div', { className: 'row-actions' }, edit, toggle, reset)));
}

function editUser(user: User, reload: () => Promise<void>): void {
  const displayName = h('input', { type: 'text', maxlength: 128, value: user.display_name, 'data-testid': 'user-edit-display-name' });
  const roles = roleBoxes('user-edit-role', user.roles);
  const error = formError('user-edit-error');
  const submit = h('button', { type: 'submit', 'data-testid': 'user-edit-save' }, 'Save');
  const form = h('form', { className: 'stack' }, field('Name', displayName), roles.element, error, h('menu', {}, submit));
  const dialog = openDialog(`Edit ${user.username}`, 'user-edit-dialog', form);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(submit, error, async () => {
      await api('PATCH', `/api/admin/users/${encodeURIComponent(user.username)}`, { display_name: displayName.value.trim(), roles: roles.value() });
      dialog.close();
      await reload();
    });
  });
}

function resetPassword(user: User): void {
  const password = h('input', { type: 'password', required: true, autocomplete: 'new-password', maxlength: 1024, 'data-testid': 'reset-password-input' });
  const error = formError('reset-password-error');
  const submit = h('button', { type: 'submit', 'data-testid': 'reset-password-submit' }, 'Set password');
  const form = h('form', { className: 'stack' }, field('New password', password), error, h('menu', {}, submit));
  openDialog(`New password for ${user.username}`, 'reset-password-dialog', form);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(submit, error, async () => {
      await api('PATCH', `/api/admin/users/${encodeURIComponent(user.username)}`, { password: password.value });
      form.replaceWith(h('p', { className: 'notice', 'data-testid': 'reset-password-done' }, `The password of ${user.username} is changed.`));
    });
  });
}

// --- groups ------------------------------------------------------------------------

export function renderGroups(root: HTMLElement, _params: URLSearchParams, signal: AbortSignal): Promise<void> {
  const list = h('div');
  const error = formError('groups-error');
  const reload = loader(error, async () => {
    const [groups, users] = await Promise.all([
      api<Group[]>('GET', '/api/admin/groups', undefined, { signal }),
      api<User[]>('GET', '/api/admin/users', undefined, { signal }),
    ]);
    clear(list);
    list.append(dataTable('groups-table', ['Group', 'Description', 'Members'],
      groups.map((g) => groupRow(g, users.map((u) => u.username), error, reload)), 'No groups yet.'));
  });
  const name = h('input', { type: 'text', required: true, maxlength: 64, 'data-testid': 'group-add-name' });
  const description = h('input', { type: 'text', maxlength: 256, 'data-testid': 'group-add-description' });
  const submit = h('button', { type: 'submit', 'data-testid': 'group-add-submit' }, 'Add group');
  const form = h('form', { className: 'inline-form', 'data-testid': 'group-add-form' }, field('Name', name), field('Description', description), submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(submit, error, async () => {
      await api('POST', '/api/admin/groups', { name: name.value.trim(), description: description.value.trim() });
      form.reset();
      await reload();
    });
  });
  root.append(h('h2', {}, 'Groups'), list, error, h('h3', {}, 'Add a group'), form);
  return reload();
}

function groupRow(group: Group, usernames: string[], error: HTMLElement, reload: () => Promise<void>): HTMLTableRowElement {
  const base = `/api/admin/groups/${encodeURIComponent(group.name)}/members`;
  const members = h('ul', { className: 'chips' });
  for (const member of group.members) {
    const remove = h('button', { type: 'button', className: 'small', 'aria-label': `Remove ${member}`, 'data-testid': 'group-member-remove', 'data-username': member }, '×');
    remove.addEventListener('click', () => void submitting(remove, error, async () => {
      await api('DELETE', `${base}/${encodeURIComponent(member)}`);
      await reload();
    }));
    members.append(h('li', { 'data-testid': 'group-member' }, member, ' ', remove));
  }
  const candidates = usernames.filter((u) => !group.members.includes(u));
  const select = h('select', { 'aria-label': `Add a member to ${group.name}`, 'data-testid': 'group-member-select' },
    ...candidates.map((u) => h('option', { value: u }, u)));
  const add = h('button', { type: 'button', disabled: !candidates.length, 'data-testid': 'group-member-add' }, 'Add member');
  add.addEventListener('click', () => void submitting(add, error, async () => {
    await api('POST', base, { username: select.value });
    await reload();
  }));
  return h('tr', { 'data-testid': 'group-row', 'data-group': group.name },
    h('td', {}, group.name), h('td', {}, group.description),
    h('td', {}, members, h('div', { className: 'inline-form' }, select, add)));
}

// --- grants ------------------------------------------------------------------------

const GRANT_KINDS: Record<Grant['kind'], string> = {
  institution: 'Studies of an institution (Institution Name)',
  source_ae: 'Studies sent by an AE title',
  study: 'One study (Study Instance UID)',
};

export function renderGrants(root: HTMLElement, _params: URLSearchParams, signal: AbortSignal): Promise<void> {
  const list = h('div');
  const error = formError('grants-error');
  const who = h('select', { required: true, 'data-testid': 'grant-principal' });
  const reload = loader(error, async () => {
    const [grants, groups, users] = await Promise.all([
      api<Grant[]>('GET', '/api/admin/grants', undefined, { signal }),
      api<Group[]>('GET', '/api/admin/groups', undefined, { signal }),
      api<User[]>('GET', '/api/admin/users', undefined, { signal }),
    ]);
    clear(list);
    list.append(dataTable('grants-table', ['To', 'Kind', 'Value', 'Granted by', ''], grants.map((g) => grantRow(g, error, reload)), 'No grants yet.'));
    const chosen = who.value;
    clear(who);
    who.append(
      h('optgroup', { label: 'Groups' }, ...groups.map((g) => h('option', { value: `group:${g.name}` }, g.name))),
      h('optgroup', { label: 'Users' }, ...users.map((u) => h('option', { value: `user:${u.username}` }, u.username))),
    );
    if (chosen) who.value = chosen;
  });
  const kind = h('select', { 'data-testid': 'grant-kind' },
    ...Object.entries(GRANT_KINDS).map(([value, label]) => h('option', { value }, label)));
  const value = h('input', { type: 'text', required: true, maxlength: 324, 'data-testid': 'grant-value' });
  const submit = h('button', { type: 'submit', 'data-testid': 'grant-add-submit' }, 'Grant');
  const form = h('form', { className: 'inline-form', 'data-testid': 'grant-add-form' },
    field('To', who), field('Access to', kind), field('Value', value), submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const [type, ...rest] = who.value.split(':');
    const name = rest.join(':');
    void submitting(submit, error, async () => {
      await api('POST', '/api/admin/grants', {
        kind: kind.value, value: value.value.trim(),
        user: type === 'user' ? name : null, group: type === 'group' ? name : null,
      });
      value.value = '';
      await reload();
    });
  });
  root.append(h('h2', {}, 'Access grants'),
    h('p', { className: 'muted' }, 'Users with a restricted role see only the studies granted to them or their groups.'),
    list, error, h('h3', {}, 'Grant access'), form);
  return reload();
}

function grantRow(grant: Grant, error: HTMLElement, reload: () => Promise<void>): HTMLTableRowElement {
  const remove = h('button', { type: 'button', 'data-testid': 'grant-delete' }, 'Remove');
  remove.addEventListener('click', async () => {
    if (!(await confirmAction(`Remove this grant of ${grant.value}?`, 'Remove'))) return;
    await submitting(remove, error, async () => {
      await api('DELETE', `/api/admin/grants/${grant.id}`);
      await reload();
    });
  });
  return h('tr', { 'data-testid': 'grant-row', 'data-grant-id': grant.id },
    h('td', {}, grant.group ? `group ${grant.group}` : `user ${grant.user ?? ''}`),
    h('td', {}, grant.kind), h('td', {}, grant.value), h('td', {}, grant.created_by),
    h('td', {}, remove));
}
