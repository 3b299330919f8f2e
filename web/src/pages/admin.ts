/**
 * Administration (/admin/<tab>): users, groups, access grants, remote DICOM nodes, the
 * audit trail and storage statistics. Each tab shows only to users with its permission.
 */
import { can, type Session } from '../api';
import { errorBox, h } from '../dom';
import { reportError } from '../hooks';
import { navigate, type Route } from '../router';
import { renderAudit } from './admin-audit';
import { renderNodes } from './admin-nodes';
import { renderStats } from './admin-stats';
import { renderGrants, renderGroups, renderUsers } from './admin-users';

type TabRenderer = (root: HTMLElement, params: URLSearchParams, signal: AbortSignal) => Promise<void>;

const TABS: { id: string; label: string; permission: string; render: TabRenderer }[] = [
  { id: 'users', label: 'Users', permission: 'admin.users', render: renderUsers },
  { id: 'groups', label: 'Groups', permission: 'admin.users', render: renderGroups },
  { id: 'grants', label: 'Access grants', permission: 'admin.users', render: renderGrants },
  { id: 'nodes', label: 'DICOM nodes', permission: 'admin.nodes', render: renderNodes },
  { id: 'audit', label: 'Audit trail', permission: 'admin.audit', render: renderAudit },
  { id: 'stats', label: 'Storage', permission: 'admin.settings', render: renderStats },
];

export function renderAdmin(root: HTMLElement, route: Route, signal: AbortSignal, session: Session | null): Promise<void> {
  const allowed = TABS.filter((t) => can(session, t.permission));
  const page = h('section', { className: 'page admin-page', 'data-testid': 'admin-page' });
  root.append(page);
  if (!allowed.length) {
    const message = 'You have no administration rights.';
    reportError(message);
    page.append(errorBox(message, 'admin-error'));
    return Promise.resolve();
  }
  const tab = allowed.find((t) => t.id === route.rest[0]);
  if (!tab) {
    // "/admin" (or a tab this user may not see) opens the first tab they may see.
    navigate(`/admin/${allowed[0].id}`, true);
    return Promise.resolve();
  }
  document.title = `${tab.label} · Administration · Hounsfield`;
  page.append(
    h('nav', { className: 'tabs', 'aria-label': 'Administration', 'data-testid': 'admin-tabs' },
      ...allowed.map((t) => h('a', { href: `/admin/${t.id}`, 'data-link': true, 'data-testid': `admin-tab-${t.id}`, 'aria-current': t === tab ? 'page' : null }, t.label))),
  );
  const panel = h('div', { className: 'tab-panel', 'data-testid': `admin-${tab.id}` });
  page.append(panel);
  return tab.render(panel, route.params, signal);
}
