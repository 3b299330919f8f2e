/**
 * Documents of a study (Encapsulated PDF, Structured Reports, CDA, photos), each opened
 * inline on demand: PDFs and photos from their content URL, SR and CDA as plain text
 * (a CDA's XML is never rendered as markup).
 */
import { apiText } from '../api';
import { formatDate } from '../dicomjson';
import { h } from '../dom';

export interface StudyDocument {
  sop_instance_uid: string;
  series_instance_uid: string;
  sop_class_uid: string;
  kind: 'pdf' | 'sr' | 'photo' | 'cda';
  title: string;
  date: string | null;
  content_url: string;
}

const KIND_LABELS: Record<string, string> = { pdf: 'PDF', sr: 'Report (SR)', photo: 'Photo', cda: 'CDA' };

export function documentList(docs: StudyDocument[]): HTMLElement {
  const list = h('ul', { className: 'documents', 'data-testid': 'documents' });
  for (const doc of docs) list.append(documentItem(doc));
  if (!docs.length) list.append(h('li', { className: 'muted', 'data-testid': 'documents-empty' }, 'No documents.'));
  return list;
}

function documentItem(doc: StudyDocument): HTMLElement {
  const panel = h('div', { className: 'document-content', hidden: true, 'data-testid': 'document-content' });
  const toggle = h('button', { type: 'button', 'aria-expanded': 'false', 'data-testid': 'document-open' }, 'Show');
  let loaded = false;
  toggle.addEventListener('click', () => {
    const opening = panel.hidden;
    panel.hidden = !opening;
    toggle.setAttribute('aria-expanded', String(opening));
    toggle.textContent = opening ? 'Hide' : 'Show';
    if (opening && !loaded) {
      loaded = true;
      fillPanel(panel, doc);
    }
  });
  return h(
    'li',
    { className: 'document', 'data-testid': 'document', 'data-sop-instance-uid': doc.sop_instance_uid, 'data-kind': doc.kind },
    h('div', { className: 'document-head' },
      h('span', { className: 'badge' }, KIND_LABELS[doc.kind] ?? doc.kind),
      h('span', { className: 'document-title' }, doc.title || '(untitled)'),
      doc.date ? h('span', { className: 'muted' }, formatDate(doc.date)) : null,
      toggle,
      h('a', { href: doc.content_url, target: '_blank', rel: 'noopener', 'data-testid': 'document-link' }, 'Open in new tab'),
    ),
    panel,
  );
}

function fillPanel(panel: HTMLElement, doc: StudyDocument): void {
  if (doc.kind === 'pdf') {
    panel.append(h('iframe', { src: doc.content_url, title: doc.title || 'PDF document', className: 'pdf', 'data-testid': 'document-pdf' }));
  } else if (doc.kind === 'photo') {
    panel.append(h('img', { src: doc.content_url, alt: doc.title || 'Photo', className: 'photo', 'data-testid': 'document-photo' }));
  } else {
    const pre = h('pre', { className: 'document-text', 'data-testid': 'document-text' }, 'Loading…');
    panel.append(pre);
    apiText(doc.content_url).then(
      (text) => (pre.textContent = text),
      (err: Error) => {
        if (err.name === 'AbortError') return;
        pre.textContent = `The document could not be loaded: ${err.message}`;
        pre.classList.add('error');
      },
    );
  }
}
