/** The share dialog: a link to studies, with expiry, optional password and de-identification. */
import { api } from '../api';
import { clear, field, h, openDialog } from '../dom';
import { shareHref } from './links';
import { formError, formatDateTime, secretValue, submitting } from './ui';

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
