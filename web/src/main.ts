/**
 * Entry point: routes between the study list and the viewer. The viewer and
 * Cornerstone3D (large: vtk.js, codecs) load only when a study is opened.
 */
import './style.css';
import { clear, errorBox, h } from './dom';
import { prefetchStudy } from './dicomweb';
import { installHooks, reportError } from './hooks';
import { startRouter, type Route } from './router';
import { renderStudyList } from './studylist';

const hf = installHooks(__HF_VERSION__);
const app = document.getElementById('app') as HTMLElement;

let teardown: (() => void) | undefined;

function show(route: Route): void {
  teardown?.();
  teardown = undefined;
  hf.errors = [];
  hf.viewer = undefined;
  hf.route = route.name;
  const controller = new AbortController();
  document.body.dataset.route = route.name;

  if (route.name === 'viewer') {
    const studyUid = route.params.get('study') ?? '';
    if (!/^[0-9.]{1,64}$/.test(studyUid)) {
      clear(app);
      const message = studyUid ? `"${studyUid}" is not a valid Study Instance UID.` : 'No study given: open a study from the list.';
      reportError(message);
      app.append(errorBox(message, 'viewer-error'), h('p', {}, h('a', { href: '/', 'data-link': true }, 'Back to the study list')));
      hf.ready = Promise.resolve();
      return;
    }
    document.title = 'Viewer · Hounsfield';
    clear(app);
    app.append(h('div', { className: 'status', 'data-testid': 'viewer-loading' }, 'Loading viewer…'));
    let destroyPage: (() => void) | undefined;
    // The study's first requests go out while the viewer code (Cornerstone, ~4 MB) loads.
    const prefetched = prefetchStudy(studyUid, controller.signal);
    hf.ready = import('./viewer/viewer').then(
      ({ renderViewer }) => {
        if (controller.signal.aborted) return;
        const page = renderViewer(app, studyUid, controller.signal, prefetched);
        hf.viewer = page.hooks;
        destroyPage = page.destroy;
        return page.ready;
      },
      (err: Error) => {
        const message = `The viewer could not be loaded: ${err.message}`;
        reportError(message);
        app.replaceChildren(errorBox(message, 'viewer-error'));
      },
    );
    teardown = () => {
      controller.abort();
      destroyPage?.();
    };
    return;
  }

  document.title = 'Studies · Hounsfield';
  const state = renderStudyList(app, route.params, controller.signal);
  hf.ready = state.loading;
  teardown = () => controller.abort();
}

startRouter(show);

