/**
 * Entry point: the header bar, the login check and the page of the current route. The
 * viewer and Cornerstone3D (large: vtk.js, codecs) load only when a study is opened.
 */
import './style.css';
import { getSession, goToLogin, resetSession, type Session } from './api';
import { clear, errorBox, h } from './dom';
import { prefetchStudy } from './dicomweb';
import { installHooks, reportError } from './hooks';
import { renderAdmin } from './pages/admin';
import { renderHeader } from './pages/header';
import { renderLogin } from './pages/login';
import { renderPatient } from './pages/patient';
import { renderStudy } from './pages/study';
import { renderUpload } from './pages/upload';
import { renderSharePage } from './share';
import { startRouter, type Route, type RouteName } from './router';
import { renderStudyList } from './studylist';

const hf = installHooks(__HF_VERSION__);
const app = document.getElementById('app') as HTMLElement;
const topbar = document.getElementById('topbar') as HTMLElement;

/** What a page gives back: `ready` once its data (or error) shows; `destroy` on leaving. */
export interface PageResult {
  ready: Promise<void>;
  destroy?: () => void;
}

interface Page {
  title: string;
  /** Shown without a login (the login form itself). */
  public?: boolean;
  render(root: HTMLElement, route: Route, signal: AbortSignal, session: Session | null): PageResult;
}

/** The pages by route name; a route without a page here shows the study list. */
const PAGES: Partial<Record<RouteName, Page>> = {
  login: { title: 'Sign in', public: true, render: (root, route, signal) => ({ ready: renderLogin(root, route.params, signal) }) },
  studies: { title: 'Studies', render: (root, route, signal) => ({ ready: renderStudyList(root, route.params, signal).loading }) },
  patient: { title: 'Patient', render: (root, route, signal, s) => ({ ready: renderPatient(root, route.params, signal, s) }) },
  study: { title: 'Study', render: (root, route, signal, s) => ({ ready: renderStudy(root, route.params, signal, s) }) },
  upload: { title: 'Upload', render: (root, route) => ({ ready: renderUpload(root, route.params) }) },
  admin: { title: 'Administration', render: (root, route, signal, s) => ({ ready: renderAdmin(root, route, signal, s) }) },
  viewer: { title: 'Viewer', render: viewerPage },
  // A share link (share.ts): no account, the link's access value instead.
  share: { title: 'Shared studies', public: true, render: renderSharePage },
};

function viewerPage(root: HTMLElement, route: Route, signal: AbortSignal): PageResult {
  const studyUid = route.params.get('study') ?? '';
  if (!/^[0-9.]{1,64}$/.test(studyUid)) {
    const message = studyUid ? `"${studyUid}" is not a valid Study Instance UID.` : 'No study given: open a study from the list.';
    reportError(message);
    root.append(errorBox(message, 'viewer-error'), h('p', {}, h('a', { href: '/', 'data-link': true }, 'Back to the study list')));
    return { ready: Promise.resolve() };
  }
  root.append(h('div', { className: 'status', 'data-testid': 'viewer-loading' }, 'Loading viewer…'));
  let destroyPage: (() => void) | undefined;
  // The study's first requests go out while the viewer code (Cornerstone, ~4 MB) loads.
  const prefetched = prefetchStudy(studyUid, signal);
  const ready = import('./viewer/viewer').then(
    ({ renderViewer }) => {
      if (signal.aborted) return;
      const page = renderViewer(root, studyUid, signal, prefetched, { seriesUid: route.params.get('series') ?? undefined });
      hf.viewer = page.hooks;
      destroyPage = page.destroy;
      return page.ready;
    },
    (err: Error) => {
      const message = `The viewer could not be loaded: ${err.message}`;
      reportError(message);
      root.replaceChildren(errorBox(message, 'viewer-error'));
    },
  );
  return { ready, destroy: () => destroyPage?.() };
}

let teardown: (() => void) | undefined;

function show(route: Route): void {
  teardown?.();
  hf.errors = [];
  hf.viewer = undefined;
  hf.route = route.name;
  document.body.dataset.route = route.name;
  const page = PAGES[route.name] ?? (PAGES.studies as Page);
  document.title = `${page.title} · Hounsfield`;
  const controller = new AbortController();
  let destroy: (() => void) | undefined;
  teardown = () => {
    controller.abort();
    destroy?.();
  };
  clear(app);

  const start = (session: Session | null): Promise<void> => {
    if (controller.signal.aborted) return Promise.resolve();
    renderHeader(topbar, session, route.name);
    const result = page.render(app, route, controller.signal, session);
    destroy = result.destroy;
    // Keyboard and screen reader users continue from the new page, not from a link that
    // is gone (a page that focuses a field itself keeps that).
    const focused = document.activeElement;
    if (!focused || focused === document.body || !focused.isConnected) app.focus({ preventScroll: true });
    return result.ready;
  };
  if (page.public) {
    hf.ready = start(null);
    return;
  }
  app.append(h('div', { className: 'status', 'data-testid': 'page-loading' }, 'Loading…'));
  // Asked again on every page change: a session that ended meanwhile leads to the login
  // form before the page's DICOMweb requests meet the server's HTTP Basic challenge.
  resetSession();
  hf.ready = getSession().then(
    (session) => {
      if (controller.signal.aborted) return;
      clear(app);
      return start(session);
    },
    (err: Error) => {
      // A 401 has already gone to the login form; anything else is shown here.
      if (err.name === 'AbortError' || controller.signal.aborted) return;
      const message = `The server did not answer who is signed in: ${err.message}`;
      reportError(message);
      app.replaceChildren(errorBox(message, 'page-error'), h('p', {}, h('button', { type: 'button', onclick: goToLogin }, 'Sign in')));
    },
  );
}

// A file dropped outside an upload's drop zone must not make the browser leave the page
// to show the file (a drop zone has handled its own events by the time they get here).
window.addEventListener('dragover', (event) => {
  if (event.defaultPrevented || !event.dataTransfer?.types.includes('Files')) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = 'none';
});
window.addEventListener('drop', (event) => {
  if (event.dataTransfer?.types.includes('Files')) event.preventDefault();
});

startRouter(show);
