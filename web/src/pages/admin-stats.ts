/** Storage statistics (/api/admin/stats): counts, sizes by modality, studies received per day. */
import { api } from '../api';
import { h } from '../dom';
import { dataTable, formError, formatBytes, showFormError } from './ui';

interface Stats {
  patients: number;
  studies: number;
  series: number;
  instances: number;
  bytes: number;
  by_modality: { modality: string; studies: number; instances: number; bytes: number }[];
  studies_per_day: { date: string; studies: number; instances: number }[];
  index: string;
  storage: string;
  disk: { total: number; free: number } | null;
  version: string;
}

const CHART_DAYS = 30;

export function renderStats(root: HTMLElement, _params: URLSearchParams, signal: AbortSignal): Promise<void> {
  const error = formError('stats-error');
  root.append(h('h2', {}, 'Storage'), error);
  return api<Stats>('GET', '/api/admin/stats', undefined, { signal }).then(
    (stats) => {
      const card = (label: string, value: string, testid: string) =>
        h('div', { className: 'card' }, h('span', { className: 'muted' }, label), h('strong', { 'data-testid': testid }, value));
      const n = (v: number) => v.toLocaleString('en');
      root.append(
        h('div', { className: 'cards', 'data-testid': 'stats-counts' },
          card('Patients', n(stats.patients), 'stats-patients'),
          card('Studies', n(stats.studies), 'stats-studies'),
          card('Series', n(stats.series), 'stats-series'),
          card('Instances', n(stats.instances), 'stats-instances'),
          card('Stored', formatBytes(stats.bytes), 'stats-bytes'),
          stats.disk ? card('Disk free', `${formatBytes(stats.disk.free)} of ${formatBytes(stats.disk.total)}`, 'stats-disk') : null),
        h('p', { className: 'muted', 'data-testid': 'stats-system' },
          `Hounsfield ${stats.version} · index ${stats.index} · storage ${stats.storage}`),
        h('h3', {}, 'Studies received per day (last 30 days)'),
        dayChart(stats.studies_per_day),
        h('h3', {}, 'By modality'),
        dataTable('stats-modalities', ['Modality', 'Studies', 'Instances', 'Size'],
          stats.by_modality.map((m) => h('tr', { 'data-testid': 'stats-modality-row', 'data-modality': m.modality },
            h('td', {}, m.modality || '—'), h('td', { className: 'num' }, n(m.studies)),
            h('td', { className: 'num' }, n(m.instances)), h('td', { className: 'num' }, formatBytes(m.bytes)))),
          'Nothing stored yet.'),
      );
    },
    (err: Error) => {
      if (err.name !== 'AbortError') showFormError(error, `The statistics could not be loaded: ${err.message}`);
    },
  );
}

/** One bar per day (UTC dates, as the server counts), days without studies at zero. */
function dayChart(days: Stats['studies_per_day']): HTMLElement {
  const byDate = new Map(days.map((d) => [d.date.slice(0, 10), d]));
  const last = [...byDate.keys()].sort().pop();
  const today = new Date().toISOString().slice(0, 10);
  const end = new Date(`${last && last > today ? last : today}T00:00:00Z`);
  const dates: string[] = [];
  for (let i = CHART_DAYS - 1; i >= 0; i--) dates.push(new Date(end.getTime() - i * 86_400_000).toISOString().slice(0, 10));
  const max = Math.max(1, ...dates.map((d) => byDate.get(d)?.studies ?? 0));
  const chart = h('div', { className: 'bar-chart', role: 'img', 'data-testid': 'stats-chart',
    'aria-label': `Studies per day: ${days.reduce((sum, d) => sum + d.studies, 0)} in ${CHART_DAYS} days` });
  for (const date of dates) {
    const day = byDate.get(date);
    const studies = day?.studies ?? 0;
    const bar = h('div', { className: 'bar', style: `height: ${(studies / max) * 100}%` });
    chart.append(h('div', { className: 'bar-slot', 'data-testid': 'stats-bar', 'data-date': date, 'data-studies': studies,
      title: `${date}: ${studies} stud${studies === 1 ? 'y' : 'ies'}, ${day?.instances ?? 0} instances` },
      bar, h('span', { className: 'bar-label' }, date.slice(8))));
  }
  return chart;
}
