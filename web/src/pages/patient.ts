/**
 * A patient's page (/patient?id=<PatientID>): every visible study, newest first, with its
 * thumbnail, counts and documents, and links to the viewer and the study page.
 */
import { api, can, type Session } from '../api';
import { formatDate, formatPersonName, formatTime } from '../dicomjson';
import { errorBox, h } from '../dom';
import { reportError } from '../hooks';
import { documentList, type StudyDocument } from './documents';
import { studyHref, viewerHref } from './links';
import { counts, thumbnail } from './ui';

interface TimelineStudy {
  study_instance_uid: string;
  study_date: string;
  study_time: string;
  study_description: string;
  accession_number: string;
  modalities: string[];
  series_count: number;
  instance_count: number;
  referring_physician: string;
  documents: StudyDocument[];
  comments_count: number;
  annotations_count: number;
  thumbnail_series_uid: string | null;
}

interface Timeline {
  patient: { patient_id: string; patient_name: string; birth_date: string; sex: string };
  studies: TimelineStudy[];
}

export function renderPatient(root: HTMLElement, params: URLSearchParams, signal: AbortSignal, session: Session | null): Promise<void> {
  const patientId = params.get('id') ?? '';
  const page = h('section', { className: 'page patient-page', 'data-testid': 'patient-page' });
  root.append(page);
  if (!patientId) {
    const message = 'No patient given: open a patient from the study list.';
    reportError(message);
    page.append(errorBox(message, 'patient-error'));
    return Promise.resolve();
  }
  const status = h('div', { className: 'status', 'data-testid': 'patient-status' }, 'Loading…');
  page.append(status);
  return api<Timeline>('GET', `/api/patients/${encodeURIComponent(patientId)}/timeline`, undefined, { signal }).then(
    (timeline) => {
      document.title = `${formatPersonName(timeline.patient.patient_name) || patientId} · Hounsfield`;
      status.replaceWith(patientHeader(timeline.patient, can(session, 'admin.audit')), timelineList(timeline.studies));
    },
    (err: Error) => {
      if (err.name === 'AbortError') return;
      const message = `The patient's studies could not be loaded: ${err.message}`;
      reportError(message);
      status.replaceWith(errorBox(message, 'patient-error'));
    },
  );
}

function patientHeader(patient: Timeline['patient'], audit: boolean): HTMLElement {
  const fact = (label: string, value: string, testid: string) =>
    h('div', {}, h('dt', {}, label), h('dd', { 'data-testid': testid }, value || '—'));
  return h('header', { className: 'page-header', 'data-testid': 'patient-header' },
    h('h1', { 'data-testid': 'patient-name' }, formatPersonName(patient.patient_name) || '(no name)'),
    h('dl', { className: 'facts' },
      fact('Patient ID', patient.patient_id, 'patient-id'),
      fact('Birth date', formatDate(patient.birth_date ?? ''), 'patient-birth-date'),
      fact('Sex', patient.sex, 'patient-sex'),
    ),
    h('div', { className: 'actions' },
      h('a', { href: `/?${new URLSearchParams({ PatientID: patient.patient_id })}`, 'data-link': true, 'data-testid': 'patient-search' },
        'In the study list'),
      audit ? h('a', { href: `/admin/audit?${new URLSearchParams({ patient_id: patient.patient_id })}`, 'data-link': true, 'data-testid': 'patient-audit' },
        'Audit trail') : null),
  );
}

function timelineList(studies: TimelineStudy[]): HTMLElement {
  const list = h('ol', { className: 'timeline', 'data-testid': 'timeline' });
  for (const study of studies) list.append(timelineItem(study));
  return list;
}

function timelineItem(study: TimelineStudy): HTMLElement {
  const uid = study.study_instance_uid;
  const modalities = study.modalities.join('/');
  const thumb = thumbnail(uid, study.thumbnail_series_uid, modalities, 'study-thumbnail');
  const when = [formatDate(study.study_date ?? ''), study.study_time ? formatTime(study.study_time) : ''].filter(Boolean).join(' ');
  return h(
    'li',
    { className: 'timeline-study', 'data-testid': 'timeline-study', 'data-study-uid': uid },
    h('a', { className: 'timeline-thumb', href: viewerHref(uid), 'data-link': true, 'aria-label': 'Open in the viewer', tabindex: -1 }, thumb),
    h('div', { className: 'timeline-body' },
      h('div', { className: 'timeline-head' },
        h('time', { 'data-testid': 'study-date' }, when || 'no date'),
        h('span', { className: 'badge', 'data-testid': 'study-modalities' }, modalities || '—'),
        h('strong', { 'data-testid': 'study-description' }, study.study_description || '(no description)'),
      ),
      h('div', { className: 'muted' },
        study.accession_number ? `Accession ${study.accession_number} · ` : '',
        h('span', { 'data-testid': 'study-counts' }, counts(study.series_count, study.instance_count)),
        study.referring_physician ? ` · Referred by ${formatPersonName(study.referring_physician)}` : '',
        study.comments_count ? ` · ${study.comments_count} comment${study.comments_count === 1 ? '' : 's'}` : '',
        study.annotations_count ? ` · ${study.annotations_count} measurement${study.annotations_count === 1 ? '' : 's'}` : '',
      ),
      h('div', { className: 'actions' },
        h('a', { href: viewerHref(uid), 'data-link': true, className: 'button', 'data-testid': 'open-viewer' }, 'Open viewer'),
        h('a', { href: studyHref(uid), 'data-link': true, className: 'button', 'data-testid': 'open-study' }, 'Study page'),
      ),
      study.documents.length ? documentList(study.documents) : null,
    ),
  );
}
