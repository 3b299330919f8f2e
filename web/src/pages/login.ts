/**
 * The login form: user name and password (POST /api/auth/login), or OpenID Connect when
 * the server has it on. Afterwards the browser goes back to the page that asked (?next=).
 */
import { ApiError, api, resetSession } from '../api';
import { field, h } from '../dom';
import { navigate } from '../router';
import { formError, submitting } from './ui';

/** Only a path on this site, never the login page itself (no open redirect). */
function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.includes('\\') || next.startsWith('/login')) return '/';
  return next;
}

function loginFailure(err: Error): string {
  if (err instanceof ApiError && err.retryAfter) {
    const minutes = Math.ceil(err.retryAfter / 60);
    return `${err.message} Wait about ${minutes} minute${minutes === 1 ? '' : 's'}.`;
  }
  return err.message;
}

export function renderLogin(root: HTMLElement, params: URLSearchParams, signal: AbortSignal): Promise<void> {
  const next = safeNext(params.get('next'));
  const username = h('input', { name: 'username', type: 'text', required: true, autocomplete: 'username', maxlength: 64, 'data-testid': 'login-username' });
  const password = h('input', { name: 'password', type: 'password', required: true, autocomplete: 'current-password', maxlength: 1024, 'data-testid': 'login-password' });
  const error = formError('login-error');
  const submit = h('button', { type: 'submit', 'data-testid': 'login-submit' }, 'Sign in');
  const oidc = h('p', { className: 'oidc', hidden: true },
    h('a', { href: `/api/auth/oidc/login?next=${encodeURIComponent(next)}`, 'data-testid': 'login-oidc' }, 'Sign in with OpenID Connect'));
  const form = h('form', { className: 'login stack', 'data-testid': 'login-form' },
    h('h1', {}, 'Sign in to Hounsfield'),
    field('User name', username), field('Password', password), error, submit, oidc);
  root.append(h('section', { className: 'login-page' }, form));
  username.focus();

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(submit, error, async () => {
      try {
        const answer = await api<{ csrf_token: string }>('POST', '/api/auth/login',
          { username: username.value.trim(), password: password.value }, { signal, keep401: true });
        resetSession(answer.csrf_token);
        navigate(next, true);
      } catch (err) {
        password.value = '';
        password.focus();
        throw new Error(loginFailure(err as Error));
      }
    });
  });

  return api<{ oidc: boolean }>('GET', '/api/auth/options', undefined, { signal }).then(
    (options) => {
      oidc.hidden = !options.oidc;
    },
    () => undefined, // unreachable or left: the link stays hidden
  );
}
