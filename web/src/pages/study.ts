/**
 * A study's page (/study?uid=<StudyInstanceUID>): patient and study data (QIDO-RS), the
 * series with thumbnails, documents, comments, and the actions: viewer, share, download,
 * upload documents to the study.
 */
import { api, can, loginIfUnauthorized, type Session } from '../api';
import { Tag, formatDate, formatTime, num, str, strs, type DicomJson } from '../dicomjson';
import { NON_IMAGE_MODALITIES, getStudy, searchSeries } from '../dicomweb';
import { clear, errorBox, h } from '../dom';
import { reportError } from '../hooks';
import { commentsSection } from './comments';
import { documentList, type StudyDocument } from './documents';
import { patientHref, viewerHref } from './links';
import { openShareDialog } from './share';
import { counts, thumbnail } from './ui';
import { uploadPanel } from './upload';

export function renderStudy(root: HTMLElement, params: URLSearchParams, signal: AbortSignal, session: Session | null): Promise<void> {
  const uid = params.get('uid') ?? '';
  const page = h('section', { className: 'page study-page', 'data-testid': 'study-page', 'data-study-uid': uid });
  root.append(page);
  const fail = (message: string): void => {
    reportError(message);
    page.append(errorBox(message, 'study-page-error'));
  };
  if (!/^[0-9.]{1,64}$/.test(uid)) {
    fail(uid ? `"${uid}" is not a valid Study Instance UID.` : 'No study given: open a study from the list.');
    return Promise.resolve();
  }
  const status = h('div', { className: 'status', 'data-testid': 'study-page-status' }, 'Loading…');
  page.append(status);

  return getStudy(uid, signal).then(
    (study) => {
      status.remove();
      if (!study) {
        fail(`Study ${uid} is not stored, or not visible to you.`);
        return;
      }
      document.title = `${str(study, Tag.PatientName) || 'Study'} · Hounsfield`;
      const seriesGrid = h('div', { className: 'series-grid', 'data-testid': 'series-grid' }, h('div', { className: 'status' }, 'Loading series…'));
      const documents = h('section', { className: 'panel', 'data-testid': 'study-documents' }, h('h2', {}, 'Documents'));
      const comments = commentsSection(uid, session, signal);
      let header = studyHeader(study);
      page.append(header, actions(uid, session),
        h('section', { className: 'panel' }, h('h2', {}, 'Series'), seriesGrid), documents, comments.element);

      const loadSeries = (): Promise<void> =>
        searchSeries(uid, signal).then(
          (series) => drawSeries(seriesGrid, uid, series),
          (err: Error) => showError(seriesGrid, err, 'The series could not be loaded', 'series-error'),
        );
      const loadDocuments = (): Promise<void> =>
        api<StudyDocument[]>('GET', `/api/studies/${encodeURIComponent(uid)}/documents`, undefined, { signal }).then(
          (docs) => {
            documents.querySelector('[data-testid=documents], [data-testid=documents-error]')?.remove();
            documents.querySelector('h2')?.after(documentList(docs));
          },
          (err: Error) => showError(documents, err, 'The documents could not be loaded', 'documents-error'),
        );
      if (can(session, 'study.upload')) {
        documents.append(h('details', { className: 'attach', 'data-testid': 'study-upload' },
          h('summary', {}, 'Upload documents or images to this study'),
          uploadPanel({
            studyUid: () => uid,
            onDone: (answer) => {
              if (!answer.stored.length) return;
              void loadDocuments();
              void loadSeries();
              // The counts in the header change too.
              getStudy(uid, signal).then((fresh) => {
                if (!fresh) return;
                const next = studyHeader(fresh);
                header.replaceWith(next);
                header = next;
              }, () => undefined);
            },
          })));
      }
      return Promise.all([loadSeries(), loadDocuments(), comments.ready]).then(() => undefined);
    },
    (err: Error) => {
      if (err.name === 'AbortError' || loginIfUnauthorized(err)) return;
      status.remove();
      fail(`The study could not be loaded: ${err.message}`);
    },
  );
}

function showError(container: HTMLElement, err: Error, what: string, testid: string): void {
  if (err.name === 'AbortError' || loginIfUnauthorized(err)) return;
  const message = `${what}: ${err.message}`;
  reportError(message);
  const box = errorBox(message, testid);
  if (container.classList.contains('series-grid')) container.replaceChildren(box);
  else container.append(box);
}

function studyHeader(study: DicomJson): HTMLElement {
  const patientId = str(study, Tag.PatientID);
  const fact = (label: string, value: string | Node, testid: string) =>
    h('div', {}, h('dt', {}, label), h('dd', { 'data-testid': testid }, value || '—'));
  const when = [formatDate(str(study, Tag.StudyDate)), str(study, Tag.StudyTime) ? formatTime(str(study, Tag.StudyTime)) : ''].filter(Boolean).join(' ');
  return h('header', { className: 'page-header', 'data-testid': 'study-header' },
    h('h1', {},
      patientId
        ? h('a', { href: patientHref(patientId), 'data-link': true, 'data-testid': 'study-patient-link' }, str(study, Tag.PatientName) || '(no name)')
        : str(study, Tag.PatientName) || '(no name)',
      ' · ',
      h('span', { 'data-testid': 'study-description' }, str(study, Tag.StudyDescription) || '(no description)')),
    h('dl', { className: 'facts' },
      fact('Patient ID', patientId, 'study-patient-id'),
      fact('Birth date', formatDate(str(study, Tag.PatientBirthDate)), 'study-birth-date'),
      fact('Sex', str(study, Tag.PatientSex), 'study-sex'),
      fact('Study date', when, 'study-date'),
      fact('Modalities', strs(study, Tag.ModalitiesInStudy, '/'), 'study-modalities'),
      fact('Accession', str(study, Tag.AccessionNumber), 'study-accession'),
      fact('Referring physician', str(study, Tag.ReferringPhysicianName), 'study-referring'),
      fact('Size', counts(num(study, Tag.NumberOfStudyRelatedSeries), num(study, Tag.NumberOfStudyRelatedInstances)), 'study-counts'),
    ));
}

function actions(uid: string, session: Session | null): HTMLElement {
  const bar = h('div', { className: 'actions', 'data-testid': 'study-actions' },
    h('a', { href: viewerHref(uid), 'data-link': true, className: 'button primary', 'data-testid': 'study-open-viewer' }, 'Open viewer'));
  if (can(session, 'study.share')) {
    bar.append(h('button', { type: 'button', 'data-testid': 'study-share', onclick: () => openShareDialog([uid]) }, 'Share…'));
  }
  if (can(session, 'study.download')) {
    const zip = `/api/export?study=${encodeURIComponent(uid)}`;
    bar.append(
      h('a', { href: zip, download: 'study.zip', className: 'button', 'data-testid': 'study-download' }, 'Download zip'),
      h('a', { href: `${zip}&deidentify=true`, download: 'study-deidentified.zip', className: 'button', 'data-testid': 'study-download-deidentified' }, 'Download de-identified'),
    );
  }
  if (can(session, 'admin.audit')) {
    bar.append(h('a', { href: `/admin/audit?study=${encodeURIComponent(uid)}`, 'data-link': true, className: 'button', 'data-testid': 'study-audit' }, 'Audit trail'));
  }
  return bar;
}

function drawSeries(grid: HTMLElement, studyUid: string, series: DicomJson[]): void {
  clear(grid);
  const sorted = [...series].sort((a, b) => (num(a, Tag.SeriesNumber) ?? 0) - (num(b, Tag.SeriesNumber) ?? 0));
  for (const ds of sorted) {
    const seriesUid = str(ds, Tag.SeriesInstanceUID);
    const modality = str(ds, Tag.Modality);
    const images = !NON_IMAGE_MODALITIES.has(modality);
    const picture = thumbnail(studyUid, images ? seriesUid : null, modality);
    const label = h('span', { className: 'series-label' },
      h('strong', {}, [modality, num(ds, Tag.SeriesNumber)].filter((v) => v !== undefined && v !== '').join(' ')),
      h('span', {}, str(ds, Tag.SeriesDescription) || '(no description)'),
      h('span', { className: 'muted' }, counts(undefined, num(ds, Tag.NumberOfSeriesRelatedInstances))));
    const attrs = { className: `series-card${images ? '' : ' non-image'}`, 'data-testid': 'series-card', 'data-series-uid': seriesUid };
    grid.append(images
      ? h('a', { ...attrs, href: viewerHref(studyUid, seriesUid), 'data-link': true }, picture, label)
      : h('div', attrs, picture, label));
  }
  if (!series.length) grid.append(h('p', { className: 'muted' }, 'No series.'));
}
