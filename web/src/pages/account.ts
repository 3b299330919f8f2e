/** The user's own account: change the password, list, create and revoke API tokens. */
import { api, goToLogin } from '../api';
import { clear, field, h, openDialog } from '../dom';
import { formError, formatDateTime, secretValue, showFormError, submitting } from './ui';

export function openPasswordDialog(): void {
  const current = h('input', { type: 'password', required: true, autocomplete: 'current-password', 'data-testid': 'password-current' });
  const next = h('input', { type: 'password', required: true, autocomplete: 'new-password', 'data-testid': 'password-new' });
  const repeat = h('input', { type: 'password', required: true, autocomplete: 'new-password', 'data-testid': 'password-repeat' });
  const error = formError('password-error');
  const submit = h('button', { type: 'submit', 'data-testid': 'password-submit' }, 'Change password');
  const form = h('form', { className: 'stack' },
    field('Current password', current), field('New password', next), field('New password again', repeat), error,
    h('menu', {}, submit));
  const dialog = openDialog('Change password', 'password-dialog', form);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (next.value !== repeat.value) {
      showFormError(error, 'The new passwords differ.');
      return;
    }
    void submitting(submit, error, async () => {
      await api('POST', '/api/auth/password', { current_password: current.value, new_password: next.value });
      // The server ends every session of the user: sign in again with the new password.
      form.replaceWith(
        h('p', { className: 'notice', 'data-testid': 'password-done' }, 'Password changed. Sign in again with the new password.'),
        h('menu', {}, h('button', { type: 'button', 'data-testid': 'password-relogin', onclick: () => { dialog.close(); goToLogin(); } }, 'Sign in')),
      );
    });
  });
}

interface ApiToken {
  id: number;
  name: string;
  created_at: string | null;
  expires_at: string | null;
  last_used_at: string | null;
  revoked: boolean;
}

export function openTokensDialog(): void {
  const table = h('table', { className: 'grid-table', 'data-testid': 'tokens-table' });
  const error = formError('tokens-error');
  const created = h('div', { 'data-testid': 'token-created-area' });
  const name = h('input', { type: 'text', maxlength: 128, placeholder: 'e.g. reporting script', 'data-testid': 'token-name' });
  const days = h('input', { type: 'number', min: 1, max: 3650, placeholder: 'never', 'data-testid': 'token-expires-days' });
  const create = h('button', { type: 'submit', 'data-testid': 'token-create' }, 'Create token');
  const form = h('form', { className: 'inline-form' }, field('Name', name), field('Expires in days', days), create);
  openDialog('My API tokens', 'tokens-dialog',
    h('p', { className: 'muted' }, 'Scripts and DICOMweb clients send a token as "Authorization: Bearer hf_…".'),
    table, form, created, error);

  const load = async (): Promise<void> => {
    const tokens = await api<ApiToken[]>('GET', '/api/auth/tokens');
    clear(table);
    table.append(h('thead', {}, h('tr', {}, ...['Name', 'Created', 'Expires', 'Last used', ''].map((t) => h('th', { scope: 'col' }, t)))));
    const body = h('tbody');
    for (const t of tokens) {
      const revoke = h('button', { type: 'button', disabled: t.revoked, 'data-testid': 'token-revoke' }, t.revoked ? 'Revoked' : 'Revoke');
      revoke.addEventListener('click', () => void submitting(revoke, error, async () => {
        await api('DELETE', `/api/auth/tokens/${t.id}`);
        await load();
      }));
      body.append(h('tr', { 'data-testid': 'token-row', 'data-token-id': t.id, className: t.revoked ? 'revoked' : '' },
        h('td', {}, t.name || '(no name)'), h('td', {}, formatDateTime(t.created_at)),
        h('td', {}, formatDateTime(t.expires_at) || 'never'), h('td', {}, formatDateTime(t.last_used_at) || 'never'),
        h('td', {}, revoke)));
    }
    if (!tokens.length) body.append(h('tr', {}, h('td', { colspan: 5, className: 'muted' }, 'No tokens yet.')));
    table.append(body);
  };
  load().catch((err: Error) => err.name !== 'AbortError' && showFormError(error, err.message));

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(create, error, async () => {
      const answer = await api<{ token: string }>('POST', '/api/auth/tokens', {
        name: name.value.trim(),
        expires_in_days: days.value ? Number(days.value) : null,
      });
      clear(created);
      created.append(
        h('p', { className: 'notice' }, 'Copy the new token now: it is not shown again.'),
        secretValue(answer.token, 'token-new-value'),
      );
      name.value = '';
      days.value = '';
      await load();
    });
  });
}
