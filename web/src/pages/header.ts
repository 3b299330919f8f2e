/**
 * The header bar of every page: product name, navigation (by permission) and the user
 * menu (name, roles, password, API tokens, sign out).
 */
import { api, can, resetSession, type Session } from '../api';
import { clear, h } from '../dom';
import { navigate, type RouteName } from '../router';
import { openPasswordDialog, openTokensDialog } from './account';
import { openSharesDialog } from './share';

/** Whether the session may use any administration page. */
function isAdministrator(session: Session): boolean {
  return !session.authEnabled || (session.user?.permissions.some((p) => p.startsWith('admin.')) ?? false);
}

export function renderHeader(bar: HTMLElement, session: Session | null, route: RouteName): void {
  clear(bar);
  bar.append(h('a', { className: 'brand', href: '/', 'data-link': true, 'data-testid': 'nav-home' }, 'Hounsfield'));
  if (!session) return;
  const link = (href: string, text: string, name: RouteName) =>
    h('a', { href, 'data-link': true, 'data-testid': `nav-${name}`, 'aria-current': route === name ? 'page' : null }, text);
  const nav = h('nav', { 'aria-label': 'Main' }, link('/', 'Studies', 'studies'));
  if (can(session, 'study.upload')) nav.append(link('/upload', 'Upload', 'upload'));
  if (isAdministrator(session)) nav.append(link('/admin', 'Admin', 'admin'));
  bar.append(nav);
  if (session.user) bar.append(userMenu(session));
  else bar.append(h('span', { className: 'muted', 'data-testid': 'auth-off' }, 'Access control is off'));
}

function userMenu(session: Session): HTMLElement {
  const user = session.user!;
  const button = h(
    'button',
    { type: 'button', className: 'user-button', 'aria-expanded': 'false', 'aria-controls': 'user-menu', 'data-testid': 'user-menu-button' },
    user.display_name || user.username,
  );
  const item = (text: string, testid: string, action: () => void) =>
    h('button', { type: 'button', 'data-testid': testid, onclick: () => { close(); action(); } }, text);
  const menu = h(
    'div',
    { className: 'user-menu', id: 'user-menu', hidden: true, 'data-testid': 'user-menu' },
    h('div', { className: 'who' },
      h('strong', { 'data-testid': 'user-name' }, user.display_name || user.username),
      user.display_name ? h('span', { className: 'muted' }, user.username) : null,
      h('span', { className: 'muted', 'data-testid': 'user-roles' }, user.roles.join(', ') || 'no roles'),
    ),
    item('Change password…', 'user-change-password', openPasswordDialog),
    item('My API tokens…', 'user-tokens', openTokensDialog),
    can(session, 'study.share') ? item('My share links…', 'user-shares', openSharesDialog) : null,
    item('Sign out', 'user-sign-out', () => void signOut()),
  );
  const wrapper = h('div', { className: 'user' }, button, menu);
  const onOutside = (event: Event) => {
    if (!wrapper.contains(event.target as Node)) close();
  };
  function open(): void {
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    document.addEventListener('click', onOutside);
    menu.querySelector<HTMLButtonElement>('button')?.focus();
  }
  function close(): void {
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('click', onOutside);
  }
  button.addEventListener('click', () => (menu.hidden ? open() : close()));
  // Tabbing out of the menu closes it, as clicking elsewhere does.
  wrapper.addEventListener('focusout', (event) => {
    if (!wrapper.contains(event.relatedTarget as Node | null)) close();
  });
  wrapper.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !menu.hidden) {
      close();
      button.focus();
    }
  });
  return wrapper;
}

async function signOut(): Promise<void> {
  try {
    await api('POST', '/api/auth/logout');
  } catch {
    // Signed out either way: a failed request leaves at worst a session that expires.
  }
  resetSession();
  navigate('/login');
}
