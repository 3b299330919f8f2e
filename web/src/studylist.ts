/**
 * The study list: a QIDO-RS search form, a sortable table of studies and paging.
 * The form state lives in the URL (?PatientName=...&page=...) so searches can be
 * bookmarked and the back button returns to the same list. One click on a row opens the
 * viewer; the patient's name and ID lead to the patient page, a link to the study page.
 */
import { clear, errorBox, h } from './dom';
import { Tag, formatDate, formatTime, num, str, strs, type DicomJson } from './dicomjson';
import { loginIfUnauthorized } from './api';
import { searchStudies, type StudyQuery } from './dicomweb';
import { reportError } from './hooks';
import { patientHref, studyHref, viewerHref } from './pages/links';
import { navigate } from './router';

const DEFAULT_PAGE_SIZE = 50;

/** Rows per page: ?size= in the URL (1–500), else 50. */
function pageSize(params: URLSearchParams): number {
  const n = Number(params.get('size'));
  return Number.isInteger(n) && n >= 1 && n <= 500 ? n : DEFAULT_PAGE_SIZE;
}

const MODALITIES = ['', 'CT', 'MR', 'CR', 'DX', 'US', 'NM', 'PT', 'XA', 'MG', 'RF', 'OT', 'SR', 'DOC'];

interface Column {
  key: string;
  label: string;
  value: (study: DicomJson) => string;
  /** Sort key; defaults to the displayed value. */
  sortValue?: (study: DicomJson) => string | number;
}

const COLUMNS: Column[] = [
  { key: 'PatientName', label: 'Patient name', value: (s) => str(s, Tag.PatientName) },
  { key: 'PatientID', label: 'Patient ID', value: (s) => str(s, Tag.PatientID) },
  { key: 'PatientBirthDate', label: 'Birth date', value: (s) => formatDate(str(s, Tag.PatientBirthDate)) },
  {
    key: 'StudyDate',
    label: 'Study date',
    value: (s) => `${formatDate(str(s, Tag.StudyDate))} ${str(s, Tag.StudyTime) ? formatTime(str(s, Tag.StudyTime)) : ''}`.trim(),
    sortValue: (s) => `${str(s, Tag.StudyDate)}${str(s, Tag.StudyTime)}`,
  },
  { key: 'ModalitiesInStudy', label: 'Modality', value: (s) => strs(s, Tag.ModalitiesInStudy, '/') },
  { key: 'StudyDescription', label: 'Description', value: (s) => str(s, Tag.StudyDescription) },
  { key: 'AccessionNumber', label: 'Accession', value: (s) => str(s, Tag.AccessionNumber) },
  { key: 'ReferringPhysicianName', label: 'Referring physician', value: (s) => str(s, Tag.ReferringPhysicianName) },
  {
    key: 'NumberOfStudyRelatedSeries',
    label: 'Series',
    value: (s) => String(num(s, Tag.NumberOfStudyRelatedSeries) ?? ''),
    sortValue: (s) => num(s, Tag.NumberOfStudyRelatedSeries) ?? -1,
  },
  {
    key: 'NumberOfStudyRelatedInstances',
    label: 'Images',
    value: (s) => String(num(s, Tag.NumberOfStudyRelatedInstances) ?? ''),
    sortValue: (s) => num(s, Tag.NumberOfStudyRelatedInstances) ?? -1,
  },
];

/** Form fields, their labels and how each becomes a QIDO matching value. */
const FIELDS = [
  { name: 'PatientName', label: 'Patient name', placeholder: 'Doe^J' },
  { name: 'PatientID', label: 'Patient ID', placeholder: '' },
  { name: 'AccessionNumber', label: 'Accession', placeholder: '' },
  { name: 'StudyDescription', label: 'Description', placeholder: '' },
  { name: 'ReferringPhysicianName', label: 'Referring physician', placeholder: '' },
] as const;

/** A wildcard is added when the user typed none: "doe" finds "DOE^JOHN" (PS3.4 C.2.2.2.4). */
function withWildcard(value: string, mode: 'prefix' | 'contains'): string {
  const v = value.trim();
  if (!v || /[*?]/.test(v)) return v;
  return mode === 'prefix' ? `${v}*` : `*${v}*`;
}

/** YYYY-MM-DD inputs to a DA range "YYYYMMDD-YYYYMMDD" (PS3.4 C.2.2.2.5). */
export function dateRange(from: string, to: string): string {
  const f = from.replaceAll('-', '');
  const t = to.replaceAll('-', '');
  if (!f && !t) return '';
  if (f && f === t) return f;
  return `${f}-${t}`;
}

export function queryFromParams(params: URLSearchParams): { query: StudyQuery; page: number; size: number } {
  const page = Math.max(0, Number(params.get('page') ?? '0') || 0);
  const size = pageSize(params);
  const query: StudyQuery = {
    PatientName: withWildcard(params.get('PatientName') ?? '', 'prefix'),
    PatientID: (params.get('PatientID') ?? '').trim(),
    AccessionNumber: (params.get('AccessionNumber') ?? '').trim(),
    StudyDescription: withWildcard(params.get('StudyDescription') ?? '', 'contains'),
    ReferringPhysicianName: withWildcard(params.get('ReferringPhysicianName') ?? '', 'prefix'),
    ModalitiesInStudy: (params.get('ModalitiesInStudy') ?? '').trim(),
    StudyDate: dateRange(params.get('from') ?? '', params.get('to') ?? ''),
    limit: size + 1, // one more than shown tells whether a next page exists
    offset: page * size,
  };
  return { query, page, size };
}

export interface StudyListState {
  studies: DicomJson[];
  loading: Promise<void>;
}

/** Render the study list into `root` for the search in the current URL. */
export function renderStudyList(root: HTMLElement, params: URLSearchParams, signal: AbortSignal): StudyListState {
  clear(root);
  const form = buildForm(params);
  const status = h('div', { className: 'status', 'data-testid': 'study-status', 'aria-live': 'polite' }, 'Searching…');
  const table = h('table', { className: 'studies', 'data-testid': 'study-table' });
  const pager = h('div', { className: 'pager', 'data-testid': 'pager' });
  root.append(h('section', { className: 'study-list', 'data-testid': 'study-list' }, form, status, table, pager));

  const state: StudyListState = { studies: [], loading: Promise.resolve() };
  const { query, page, size } = queryFromParams(params);
  let sortKey = params.get('sort') ?? 'StudyDate';
  let sortDir = params.get('dir') === 'asc' ? 1 : -1;

  const draw = (): void => {
    const column = COLUMNS.find((c) => c.key === sortKey) ?? COLUMNS[3];
    const key = column.sortValue ?? column.value;
    const rows = [...state.studies].sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      const cmp = typeof ka === 'number' && typeof kb === 'number' ? ka - kb : String(ka).localeCompare(String(kb));
      return cmp * sortDir;
    });
    drawTable(table, rows, sortKey, sortDir, (k) => {
      sortDir = k === sortKey ? -sortDir : 1;
      sortKey = k;
      const next = new URLSearchParams(location.search);
      next.set('sort', sortKey);
      next.set('dir', sortDir === 1 ? 'asc' : 'desc');
      history.replaceState(history.state, '', `${location.pathname}?${next.toString()}`);
      draw();
    });
  };

  state.loading = searchStudies(query, signal).then(
    (found) => {
      const hasNext = found.length > size;
      state.studies = found.slice(0, size);
      status.textContent = state.studies.length
        ? `Studies ${page * size + 1}–${page * size + state.studies.length}${hasNext ? '' : ' (end)'}`
        : 'No studies match.';
      draw();
      drawPager(pager, params, page, hasNext);
    },
    (err: Error) => {
      if (err.name === 'AbortError') return;
      if (loginIfUnauthorized(err)) return;
      const message = `Search failed. ${err.message}`;
      reportError(message);
      status.replaceWith(errorBox(message, 'study-error'));
    },
  );
  return state;
}

function buildForm(params: URLSearchParams): HTMLFormElement {
  const inputs = FIELDS.map((f) =>
    h(
      'label',
      {},
      h('span', {}, f.label),
      h('input', {
        name: f.name,
        type: 'search',
        value: params.get(f.name) ?? '',
        placeholder: f.placeholder,
        'data-testid': `search-${f.name}`,
      }),
    ),
  );
  const modality = h('select', { name: 'ModalitiesInStudy', 'data-testid': 'search-ModalitiesInStudy' });
  for (const m of MODALITIES) {
    const option = h('option', { value: m }, m || 'Any');
    if ((params.get('ModalitiesInStudy') ?? '') === m) option.selected = true;
    modality.append(option);
  }
  const form = h(
    'form',
    { className: 'search', 'data-testid': 'study-search', role: 'search' },
    ...inputs,
    h('label', {}, h('span', {}, 'Modality'), modality),
    h('label', {}, h('span', {}, 'From'), h('input', { name: 'from', type: 'date', value: params.get('from') ?? '', 'data-testid': 'search-from' })),
    h('label', {}, h('span', {}, 'To'), h('input', { name: 'to', type: 'date', value: params.get('to') ?? '', 'data-testid': 'search-to' })),
    h('div', { className: 'buttons' },
      h('button', { type: 'submit', 'data-testid': 'search-submit' }, 'Search'),
      h('button', { type: 'reset', 'data-testid': 'search-reset' }, 'Clear'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(form)) {
      if (typeof value === 'string' && value.trim()) next.set(key, value.trim());
    }
    if (params.get('size')) next.set('size', params.get('size') as string);
    navigate(`/?${next.toString()}`);
  });
  form.addEventListener('reset', (event) => {
    event.preventDefault();
    navigate('/');
  });
  return form;
}

function drawTable(
  table: HTMLTableElement,
  studies: DicomJson[],
  sortKey: string,
  sortDir: number,
  onSort: (key: string) => void,
): void {
  clear(table);
  const headRow = h('tr');
  for (const column of COLUMNS) {
    const active = column.key === sortKey;
    const th = h(
      'th',
      { scope: 'col', 'aria-sort': active ? (sortDir === 1 ? 'ascending' : 'descending') : 'none' },
      h('button', { type: 'button', className: 'sort', 'data-testid': `sort-${column.key}`, onclick: () => onSort(column.key) },
        column.label, active ? (sortDir === 1 ? ' ▲' : ' ▼') : ''),
    );
    headRow.append(th);
  }
  headRow.append(h('th', { scope: 'col' }, h('span', { className: 'visually-hidden' }, 'Study page')));
  const body = h('tbody');
  for (const study of studies) {
    const uid = str(study, Tag.StudyInstanceUID);
    const href = viewerHref(uid);
    const patientId = str(study, Tag.PatientID);
    const row = h('tr', { className: 'study-row', 'data-testid': 'study-row', 'data-study-uid': uid, tabindex: 0 });
    for (const column of COLUMNS) {
      const text = column.value(study);
      // Name and ID lead to the patient's page (real links: middle-click works too).
      const toPatient = patientId && (column.key === 'PatientName' || column.key === 'PatientID');
      row.append(h('td', { 'data-col': column.key }, toPatient
        ? h('a', { href: patientHref(patientId), 'data-link': true, 'data-testid': column.key === 'PatientName' ? 'patient-link' : 'patient-id-link' },
          text || (column.key === 'PatientName' ? '(no name)' : ''))
        : text));
    }
    // The row opens the viewer; this link opens the study's page.
    row.append(h('td', { className: 'row-links' },
      h('a', { href: studyHref(uid), 'data-link': true, 'data-testid': 'open-study' }, 'Study page')));
    row.addEventListener('click', (event) => {
      if ((event.target as HTMLElement).closest('a')) return;
      navigate(href);
    });
    row.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && event.target === row) navigate(href);
    });
    body.append(row);
  }
  table.append(h('thead', {}, headRow), body);
}

function drawPager(pager: HTMLElement, params: URLSearchParams, page: number, hasNext: boolean): void {
  clear(pager);
  const go = (p: number) => () => {
    const next = new URLSearchParams(params);
    next.set('page', String(p));
    navigate(`/?${next.toString()}`);
  };
  pager.append(
    h('button', { type: 'button', disabled: page === 0, onclick: go(page - 1), 'data-testid': 'page-prev' }, '‹ Previous'),
    h('span', { 'data-testid': 'page-number' }, `Page ${page + 1}`),
    h('button', { type: 'button', disabled: !hasNext, onclick: go(page + 1), 'data-testid': 'page-next' }, 'Next ›'),
  );
}
