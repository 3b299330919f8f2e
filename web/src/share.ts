/**
 * A share link's page, /s/<token>: opens the link (asking for its password when it has
 * one), lists the shared studies and shows one in the viewer, read-only. No account is
 * needed: every DICOMweb request carries the link's access value (X-Share-Token) instead
 * of a session, and the access value is kept for this browser tab only.
 */
import { ApiError, api } from './api';
import { Tag, formatDate, str, strs } from './dicomjson';
import { DicomWebError, prefetchStudy, searchStudies, setShareAccess } from './dicomweb';
import { clear, errorBox, h } from './dom';
import { reportError } from './hooks';
import type { Route } from './router';
import './viewer/viewer.css';

/** What opening a link answers (share_api.py). */
interface OpenedShare {
  share: { id: number; description: string; deidentify: boolean; password: boolean; expires_at: string };
  access: string;
  download: string;
}

export interface SharePage {
  ready: Promise<void>;
  destroy(): void;
}

const storageKey = (token: string): string => `hf-share:${token}`;

function remembered(token: string): OpenedShare | undefined {
  try {
    const value = JSON.parse(sessionStorage.getItem(storageKey(token)) ?? 'null') as OpenedShare | null;
    return value?.access ? value : undefined;
  } catch {
    return undefined;
  }
}

export function renderSharePage(root: HTMLElement, route: Route, signal: AbortSignal): SharePage {
  const token = route.rest[0] ?? '';
  const studyUid = route.params.get('study') ?? '';
  const seriesUid = route.params.get('series') ?? undefined;
  const base = `/s/${encodeURIComponent(token)}`;
  const page = h('section', { className: 'share-page', 'data-testid': 'shared-page' });
  clear(root);
  root.append(page);
  let destroyViewer: (() => void) | undefined;

  const fail = (message: string): void => {
    if (signal.aborted) return;
    reportError(message);
    page.append(errorBox(message, 'shared-error'));
  };

  /** Open the link: GET, or POST with the password the form asks for. */
  const open = async (): Promise<OpenedShare | undefined> => {
    const url = `/share/${encodeURIComponent(token)}`;
    try {
      return await api<OpenedShare>('GET', url, undefined, { signal, keep401: true });
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 'share_password_required') throw err;
    }
    const unlocked = askPassword(page, signal, (password) => api<OpenedShare>('POST', url, { password }, { signal, keep401: true }));
    // The form is this page's first content: `ready` resolves now, and a new `ready`
    // covers what the password opens.
    formShown();
    window.__hf.ready = flow;
    return unlocked;
  };

  const header = (opened: OpenedShare): HTMLElement => {
    const { share } = opened;
    const download = `${opened.download}?access=${encodeURIComponent(opened.access)}`;
    return h('div', { className: 'share-header' },
      h('h2', { 'data-testid': 'shared-description' }, share.description || 'Shared studies'),
      h('span', { className: 'share-expires', 'data-testid': 'shared-expires' }, `Available until ${share.expires_at.slice(0, 16).replace('T', ' ')}`),
      share.deidentify ? h('span', { className: 'share-deidentified', 'data-testid': 'shared-deidentified' }, 'De-identified: names and identifiers are removed') : null,
      h('a', { className: 'button', href: download, download: '', 'data-testid': 'shared-download' }, 'Download (zip)'),
    );
  };

  let formShown: () => void = () => undefined;
  const form = new Promise<void>((resolve) => {
    formShown = resolve;
  });
  const flow: Promise<void> = (async () => {
    let opened = remembered(token);
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!opened) {
        opened = await open();
        if (!opened || signal.aborted) return;
        sessionStorage.setItem(storageKey(token), JSON.stringify(opened));
      }
      setShareAccess(opened.access);
      try {
        await (studyUid ? showStudy(opened) : listStudies(opened));
        return;
      } catch (err) {
        // An access value lasts a few hours: when it has run out, open the link again.
        if (attempt === 0 && err instanceof DicomWebError && err.status === 401) {
          sessionStorage.removeItem(storageKey(token));
          opened = undefined;
          page.replaceChildren();
          continue;
        }
        throw err;
      }
    }
  })().catch((err: Error) => {
    if (err.name !== 'AbortError') fail(`This share link cannot be opened: ${err.message}`);
  });

  async function listStudies(opened: OpenedShare): Promise<void> {
    page.replaceChildren(header(opened), h('div', { className: 'status', 'data-testid': 'shared-loading' }, 'Loading studies…'));
    // QIDO-RS under the link's access lists exactly the shared studies (as the server
    // presents them: de-identified links answer de-identified).
    const studies = await searchStudies({ limit: 200 }, signal);
    if (signal.aborted) return;
    const rows = studies.map((ds) => {
      const uid = str(ds, Tag.StudyInstanceUID);
      const href = `${base}?study=${encodeURIComponent(uid)}`;
      return h('tr', { 'data-testid': 'shared-study', 'data-study-uid': uid },
        h('td', {}, h('a', { href, 'data-link': true }, formatDate(str(ds, Tag.StudyDate)) || '(no date)')),
        h('td', {}, str(ds, Tag.PatientName)),
        h('td', {}, str(ds, Tag.StudyDescription)),
        h('td', {}, strs(ds, Tag.ModalitiesInStudy)),
        h('td', {}, str(ds, Tag.NumberOfStudyRelatedInstances)),
        h('td', {}, h('a', { href, 'data-link': true, 'data-testid': 'shared-open' }, 'Open')),
      );
    });
    page.replaceChildren(
      header(opened),
      rows.length
        ? h('table', { className: 'studies share-studies', 'data-testid': 'shared-studies' },
          h('thead', {}, h('tr', {}, ...['Date', 'Patient', 'Description', 'Modalities', 'Images', ''].map((t) => h('th', {}, t)))),
          h('tbody', {}, ...rows))
        : h('p', { className: 'status', 'data-testid': 'shared-empty' }, 'The shared studies are no longer stored.'),
    );
  }

  async function showStudy(opened: OpenedShare): Promise<void> {
    if (!/^[0-9.]{1,64}$/.test(studyUid)) throw new Error(`"${studyUid}" is not a valid Study Instance UID.`);
    page.replaceChildren(h('div', { className: 'status', 'data-testid': 'viewer-loading' }, 'Loading viewer…'));
    const prefetched = prefetchStudy(studyUid, signal);
    // A 401 here means the access value has run out (see the retry above).
    await prefetched.series;
    const { renderViewer } = await import('./viewer/viewer');
    if (signal.aborted) return;
    page.replaceChildren();
    const viewer = renderViewer(page, studyUid, signal, prefetched, {
      readOnly: true,
      seriesUid,
      back: { href: base, label: `‹ ${opened.share.description || 'Shared studies'}` },
    });
    window.__hf.viewer = viewer.hooks;
    destroyViewer = viewer.destroy;
    await viewer.ready;
  }

  return {
    ready: Promise.race([form, flow]),
    destroy() {
      destroyViewer?.();
      setShareAccess(undefined);
    },
  };
}

/** The password form; resolves with the opened link once a password is accepted. */
function askPassword(
  page: HTMLElement,
  signal: AbortSignal,
  unlock: (password: string) => Promise<OpenedShare>,
): Promise<OpenedShare | undefined> {
  const input = h('input', { type: 'password', 'data-testid': 'shared-password', autocomplete: 'off', required: true, 'aria-label': 'Password' }) as HTMLInputElement;
  const problem = h('div', { className: 'error', role: 'alert', 'data-testid': 'shared-password-error', hidden: true });
  const submit = h('button', { type: 'submit', 'data-testid': 'shared-password-submit' }, 'Open') as HTMLButtonElement;
  const form = h('form', { className: 'share-password', 'data-testid': 'shared-password-form' },
    h('p', {}, 'This share link is protected by a password.'),
    h('label', {}, 'Password ', input),
    submit,
    problem,
  );
  page.replaceChildren(form);
  input.focus();
  return new Promise((resolve, reject) => {
    signal.addEventListener('abort', () => resolve(undefined), { once: true });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      submit.disabled = true;
      unlock(input.value).then(
        (opened) => {
          form.remove();
          resolve(opened);
        },
        (err: Error) => {
          submit.disabled = false;
          if (err.name === 'AbortError') return;
          if (!(err instanceof ApiError) || (err.status !== 401 && err.status !== 429)) {
            reject(err);
            return;
          }
          // A wrong password (or too many): said in the form, which stays.
          reportError(err.message);
          problem.textContent = err.message;
          problem.hidden = false;
          input.select();
        },
      );
    });
  });
}
