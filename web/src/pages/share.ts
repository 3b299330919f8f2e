/**
 * Share links: the dialog that makes one (expiry, optional password, de-identification)
 * and the list of one's links, to revoke them.
 */
import { api } from '../api';
import { clear, field, h, openDialog } from '../dom';
import { shareHref } from './links';
import { dataTable, formError, formatDateTime, loader, secretValue, submitting } from './ui';

const EXPIRY: [number, string][] = [
  [24, '1 day'],
  [72, '3 days'],
  [168, '1 week'],
  [720, '30 days'],
];

interface ShareAnswer {
  token: string;
  share: { expires_at: string; deidentify: boolean; password: boolean };
}

export function openShareDialog(studyUids: string[]): void {
  const expires = h('select', { 'data-testid': 'share-expires' },
    ...EXPIRY.map(([hours, label]) => h('option', { value: hours, selected: hours === 72 }, label)));
  const password = h('input', { type: 'password', autocomplete: 'new-password', placeholder: 'none', maxlength: 1024, 'data-testid': 'share-password' });
  const deidentify = h('input', { type: 'checkbox', 'data-testid': 'share-deidentify' });
  const description = h('input', { type: 'text', maxlength: 256, placeholder: 'e.g. second opinion Dr. Smith', 'data-testid': 'share-description' });
  const error = formError('share-error');
  const submit = h('button', { type: 'submit', 'data-testid': 'share-create' }, 'Create link');
  const form = h('form', { className: 'stack' },
    field('Expires after', expires),
    field('Password (optional)', password),
    h('label', { className: 'check' }, deidentify, ' De-identify (the link downloads the studies without patient identity)'),
    field('Description', description),
    error, h('menu', {}, submit));
  const result = h('div', { 'data-testid': 'share-result' });
  openDialog('Share', 'share-dialog', form, result);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(submit, error, async () => {
      const answer = await api<ShareAnswer>('POST', '/api/shares', {
        study_instance_uids: studyUids,
        expires_in_hours: Number(expires.value),
        password: password.value || null,
        deidentify: deidentify.checked,
        description: description.value.trim(),
      });
      clear(result);
      result.append(
        h('p', { className: 'notice' },
          'Copy the link now: it is not shown again. It works until ', formatDateTime(answer.share.expires_at),
          answer.share.password ? ' and asks for the password.' : '.'),
        secretValue(new URL(shareHref(answer.token), location.origin).href, 'share-url'),
      );
      form.hidden = true;
    });
  });
}

interface ShareLink {
  id: number;
  created_by: string;
  study_instance_uids: string[];
  description: string;
  deidentify: boolean;
  password: boolean;
  created_at: string;
  expires_at: string;
  revoked: boolean;
}

/** The caller's share links (an administrator sees all), each revocable. */
export function openSharesDialog(): void {
  const list = h('div');
  const error = formError('shares-error');
  openDialog('Share links', 'shares-dialog', list, error);
  const reload = loader(error, async () => {
    const links = await api<ShareLink[]>('GET', '/api/shares');
    clear(list);
    list.append(dataTable('shares-table', ['Description', 'By', 'Studies', 'Created', 'Expires', 'Protection', ''],
      links.map((link) => {
        const expired = new Date(link.expires_at).getTime() < Date.now();
        const revoke = h('button', { type: 'button', disabled: link.revoked || expired, 'data-testid': 'share-revoke' },
          link.revoked ? 'Revoked' : expired ? 'Expired' : 'Revoke');
        revoke.addEventListener('click', () => void submitting(revoke, error, async () => {
          await api('DELETE', `/api/shares/${link.id}`);
          await reload();
        }));
        const protection = [link.password ? 'password' : '', link.deidentify ? 'de-identified' : ''].filter(Boolean).join(', ');
        return h('tr', { 'data-testid': 'share-row', 'data-share-id': link.id, className: link.revoked || expired ? 'revoked' : '' },
          h('td', {}, link.description || '—'), h('td', {}, link.created_by),
          h('td', {}, String(link.study_instance_uids.length)), h('td', { className: 'nowrap' }, formatDateTime(link.created_at)),
          h('td', { className: 'nowrap' }, formatDateTime(link.expires_at)), h('td', {}, protection || 'none'), h('td', {}, revoke));
      }), 'No share links yet.'));
  });
  void reload();
}
