/**
 * The audit trail (/api/admin/audit), newest first: searched by user, action, patient,
 * study, date range and outcome, a page at a time. The search lives in the URL.
 */
import { api } from '../api';
import { field, h } from '../dom';
import { navigate } from '../router';
import { dataTable, formError, formatDateTime, showFormError } from './ui';

/** auth/audit.py ACTIONS and OUTCOMES. */
const ACTIONS = ['login', 'logout', 'search', 'view', 'retrieve', 'store', 'delete', 'export', 'share', 'share_access',
  'report_sign', 'annotate', 'configure', 'admin'];
const OUTCOMES = ['success', 'failure', 'denied'];
const PAGE_SIZE = 50;

interface AuditEvent {
  id: number;
  occurred_at: string;
  action: string;
  outcome: string;
  user: string;
  remote_address: string;
  patient_id: string;
  study_instance_uids: string[];
  details: unknown;
}

/** A local calendar day (YYYY-MM-DD) as the UTC instant it starts at, plus `days`. */
function dayStart(day: string, days = 0): string {
  const d = new Date(`${day}T00:00:00`);
  d.setDate(d.getDate() + days);
  return d.toISOString();
}

export function renderAudit(root: HTMLElement, params: URLSearchParams, signal: AbortSignal): Promise<void> {
  const text = (name: string, label: string, maxlength: number) =>
    field(label, h('input', { type: 'search', name, maxlength, value: params.get(name) ?? '', 'data-testid': `audit-${name}` }));
  const choice = (name: string, label: string, options: string[]) => {
    const select = h('select', { name, 'data-testid': `audit-${name}` }, h('option', { value: '' }, 'Any'),
      ...options.map((o) => h('option', { value: o, selected: params.get(name) === o }, o)));
    return field(label, select);
  };
  const date = (name: string, label: string) =>
    field(label, h('input', { type: 'date', name, value: params.get(name) ?? '', 'data-testid': `audit-${name}` }));
  const form = h('form', { className: 'search', role: 'search', 'data-testid': 'audit-search' },
    text('user', 'User', 64), choice('action', 'Action', ACTIONS), text('patient_id', 'Patient ID', 64),
    text('study', 'Study Instance UID', 64), date('from', 'From'), date('to', 'To'), choice('outcome', 'Outcome', OUTCOMES),
    h('div', { className: 'buttons' }, h('button', { type: 'submit', 'data-testid': 'audit-submit' }, 'Search')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (typeof value === 'string' && value.trim()) next.set(key, value.trim());
    navigate(`/admin/audit?${next.toString()}`);
  });

  const status = h('div', { className: 'status', 'data-testid': 'audit-status' }, 'Searching…');
  const error = formError('audit-error');
  const results = h('div');
  root.append(h('h2', {}, 'Audit trail'), form, status, error, results);

  const offset = Math.max(0, Number(params.get('offset')) || 0);
  const query = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
  for (const key of ['user', 'action', 'outcome', 'study', 'patient_id']) {
    const value = params.get(key);
    if (value) query.set(key, value);
  }
  if (params.get('from')) query.set('since', dayStart(params.get('from')!));
  if (params.get('to')) query.set('until', dayStart(params.get('to')!, 1));

  return api<{ total: number; events: AuditEvent[] }>('GET', `/api/admin/audit?${query.toString()}`, undefined, { signal }).then(
    ({ total, events }) => {
      status.dataset.total = String(total);
      status.textContent = total ? `Events ${offset + 1}–${offset + events.length} of ${total}` : 'No events match.';
      results.append(dataTable('audit-table', ['Time', 'User', 'Action', 'Outcome', 'Patient ID', 'Studies', 'Address', 'Details'],
        events.map(eventRow), 'No events match.'));
      const go = (to: number) => () => {
        const next = new URLSearchParams(params);
        next.set('offset', String(to));
        navigate(`/admin/audit?${next.toString()}`);
      };
      results.append(h('div', { className: 'pager' },
        h('button', { type: 'button', disabled: offset === 0, onclick: go(Math.max(0, offset - PAGE_SIZE)), 'data-testid': 'audit-prev' }, '‹ Newer'),
        h('span', { 'data-testid': 'audit-page' }, `Page ${Math.floor(offset / PAGE_SIZE) + 1} of ${Math.max(1, Math.ceil(total / PAGE_SIZE))}`),
        h('button', { type: 'button', disabled: offset + events.length >= total, onclick: go(offset + PAGE_SIZE), 'data-testid': 'audit-next' }, 'Older ›')));
    },
    (err: Error) => {
      if (err.name === 'AbortError') return;
      status.remove();
      showFormError(error, `The audit trail could not be searched: ${err.message}`);
    },
  );
}

function eventRow(e: AuditEvent): HTMLTableRowElement {
  const details = typeof e.details === 'string' ? e.details
    : e.details && typeof e.details === 'object' && Object.keys(e.details).length ? JSON.stringify(e.details) : '';
  return h('tr', { 'data-testid': 'audit-row', 'data-action': e.action, 'data-outcome': e.outcome, className: `outcome-${e.outcome}` },
    h('td', { className: 'nowrap' }, h('time', { datetime: e.occurred_at }, formatDateTime(e.occurred_at))),
    h('td', {}, e.user), h('td', {}, e.action), h('td', {}, e.outcome), h('td', {}, e.patient_id),
    h('td', { className: 'uids' }, e.study_instance_uids.join(' ')), h('td', {}, e.remote_address),
    h('td', { className: 'details' }, details));
}
