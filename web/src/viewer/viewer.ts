/**
 * The diagnostic viewer page: series thumbnails, toolbar, the 2D grid of stack
 * viewports, and the MPR/MIP/3D views. Everything comes from QIDO-RS and WADO-RS.
 */
import {
  RenderingEngine,
  cache,
  utilities as csUtils,
  type Types,
} from '@cornerstonejs/core';
import { utilities as toolUtils } from '@cornerstonejs/tools';
import { can, getSession } from '../api';
import { clear, errorBox, h } from '../dom';
import { Tag, formatDate, num, str } from '../dicomjson';
import { prefetchStudy, type StudyPrefetch } from '../dicomweb';
import { reportError, type ViewerHooks } from '../hooks';
import { AnnotationSync, type AnnotationAccess, type AnnotationInfo } from './annotations';
import './viewer.css';
import { startCornerstone, type Capabilities } from './cornerstone';
import { presetsFor } from './presets';
import { isImageSeries, loadSeries, type LoadedSeries, type SeriesInfo } from './series';
import { StackGrid, describe, loadedCount, type Cell, type Layout } from './stackgrid';
import { drawPriors, drawStrip, seriesFromQido, type StripEvents } from './strip';
import { LEFT_BUTTON_TOOLS, MPR_GROUP, STACK_GROUP, createToolGroups, setLeftButtonTool } from './toolgroups';
import { buildTextDialog } from './textdialog';
import {
  VOLUME_PRESETS,
  createVolumeView,
  volumeIdFor,
  volumeUnavailableReason,
  type VolumeMode,
  type VolumeView,
} from './volume';

type Mode = '2d' | 'mpr' | '3d';

/** Toolbar tools that draw annotations (off where nothing may be saved). */
const DRAWING_TOOLS = new Set(['length', 'angle', 'rect', 'ellipse', 'arrow']);

export interface ViewerOptions {
  /** The series to show in the first viewport (the `series` query parameter). */
  seriesUid?: string;
  /** A share link's viewer: no annotations are fetched or saved, drawing tools are off, no priors. */
  readOnly?: boolean;
  /** Where the back link goes. */
  back?: { href: string; label: string };
}

const ENGINE_ID = 'hf-engine';

/**
 * One rendering engine for the page's lifetime: its WebGL contexts are not freed promptly
 * when an engine is destroyed, and browsers cap live contexts (16 in Chromium), so a
 * new engine per opened study would soon lose contexts.
 */
let sharedEngine: RenderingEngine | undefined;

export interface ViewerPage {
  ready: Promise<void>;
  hooks: ViewerHooks;
  destroy(): void;
}

export function renderViewer(
  root: HTMLElement,
  studyUid: string,
  signal: AbortSignal,
  prefetched?: StudyPrefetch,
  options: ViewerOptions = {},
): ViewerPage {
  clear(root);
  // Milliseconds since the page's navigation started (performance.now()), so a benchmark
  // that loads /viewer?study=... directly reads "time to first image" off firstImage.
  const timings: Record<string, number> = { viewerStart: Math.round(performance.now()) };
  const mark = (name: string): void => {
    timings[name] = Math.round(performance.now());
  };

  const studyHeader = h('div', { className: 'study-header', 'data-testid': 'study-header' }, 'Loading study…');
  const toolbar = h('div', { className: 'toolbar', role: 'toolbar', 'data-testid': 'toolbar' });
  const strip = h('aside', { className: 'series-strip', 'data-testid': 'series-strip' });
  const main = h('div', { className: 'viewer-main', 'data-testid': 'viewer-main' });
  const messages = h('div', { className: 'messages', 'data-testid': 'viewer-messages', 'aria-live': 'polite' });
  const dialog = buildTextDialog();
  // Holds the measurement list once it is known what the user may do with annotations.
  const annotationSlot = h('div', { className: 'annotation-slot' });
  const back = options.back ?? { href: '/', label: '‹ Studies' };
  root.append(
    h('section', { className: 'viewer', 'data-testid': 'viewer' },
      h('div', { className: 'viewer-top' }, h('a', { href: back.href, 'data-link': true, className: 'back', 'data-testid': 'back' }, back.label), studyHeader),
      toolbar,
      h('div', { className: 'viewer-body' }, strip, h('div', { className: 'viewer-center' }, messages, main), annotationSlot),
      dialog.root,
    ),
  );

  const showError = (message: string): void => {
    // A request of a page the user has left may still fail; that is not this page's error.
    if (signal.aborted) return;
    reportError(message);
    messages.append(errorBox(message, 'viewer-error'));
  };

  let engine: RenderingEngine | undefined;
  let grid: StackGrid | undefined;
  let volumeView: VolumeView | undefined;
  let capabilities: Capabilities | undefined;
  let activeCell: Cell | undefined;
  let mode: Mode = '2d';
  let series: SeriesInfo[] = [];
  /** Series of this study and of opened priors, by UID, for drops. */
  const knownSeries = new Map<string, SeriesInfo>();
  let leftTool = 'wl';
  let sync: AnnotationSync | undefined;
  /** Whether the user may draw (and so save) annotations; known once the session is. */
  let drawing = false;
  let keptAssignments: (LoadedSeries | undefined)[] = [];
  const resizeObserver = new ResizeObserver(() => engine?.resize(true, true));
  resizeObserver.observe(main);

  const setActive = (cell: Cell | undefined): void => {
    activeCell = cell;
    for (const c of grid?.cells ?? []) c.container.classList.toggle('active', c === cell);
    const modality = cell?.series?.modality ?? '';
    fillPresets(modality);
    for (const thumb of strip.querySelectorAll<HTMLElement>('.thumb')) {
      thumb.classList.toggle('shown', thumb.dataset.seriesUid === cell?.series?.seriesUid);
    }
  };

  const viewportFor = (id?: string): Types.IViewport | undefined => {
    if (!engine) return undefined;
    const vid = id ?? (mode === '2d' ? activeCell?.viewportId : volumeView?.viewportIds[0]);
    return vid ? engine.getViewport(vid) : undefined;
  };

  const cellFor = (id?: string): Cell | undefined =>
    id ? grid?.cells.find((c) => c.viewportId === id) : activeCell;

  const showSeriesIn = async (cell: Cell, info: SeriesInfo, startIndex?: number): Promise<void> => {
    if (!grid) return;
    if (cell === cineCell) stopCine();
    // A prior study's series brings that study's saved annotations.
    void sync?.loadStudy(info.studyUid, signal);
    const loaded = await loadSeries(info);
    if (signal.aborted) return;
    if (timings.metadata === undefined) mark('metadata');
    await grid.show(cell, loaded, startIndex);
    if (cell === activeCell) setActive(cell);
  };

  // ---- toolbar -------------------------------------------------------------------
  const toolButtons = new Map<string, HTMLButtonElement>();
  const toolGroup = (): string => (mode === 'mpr' ? MPR_GROUP : STACK_GROUP);
  const selectTool = (id: string): boolean => {
    const tool = LEFT_BUTTON_TOOLS[id];
    if (DRAWING_TOOLS.has(id) && !drawing) return false;
    if (!tool || !setLeftButtonTool(toolGroup(), tool.toolName)) return false;
    leftTool = id;
    for (const [bid, button] of toolButtons) button.setAttribute('aria-pressed', String(bid === id));
    return true;
  };
  const toolGroupEl = h('div', { className: 'group', 'data-testid': 'tool-buttons' });
  for (const id of ['wl', 'pan', 'zoom', 'scroll', 'length', 'angle', 'rect', 'ellipse', 'arrow', 'crosshairs']) {
    const tool = LEFT_BUTTON_TOOLS[id];
    const button = h('button', {
      type: 'button',
      'data-testid': `tool-${id}`,
      'aria-pressed': String(id === leftTool),
      title: tool.key ? `${tool.label} (${tool.key.toUpperCase()})` : tool.label,
      onclick: () => selectTool(id),
    }, tool.label) as HTMLButtonElement;
    if (id === 'crosshairs') button.hidden = true;
    if (DRAWING_TOOLS.has(id)) {
      // Off until the session says the user may save annotations.
      button.disabled = true;
      button.dataset.title = button.title;
    }
    toolButtons.set(id, button);
    toolGroupEl.append(button);
  }

  const setDrawing = (access: AnnotationAccess): void => {
    drawing = access === 'write';
    const why = access === 'off'
      ? 'a shared link opens the studies read-only'
      : 'saving measurements needs the study.annotate permission';
    for (const id of DRAWING_TOOLS) {
      const button = toolButtons.get(id) as HTMLButtonElement;
      button.disabled = !drawing || mode === '3d';
      button.title = drawing ? (button.dataset.title ?? '') : `${button.dataset.title ?? ''}: not available, ${why}`;
    }
  };

  /** Show the image an annotation is on (from the measurement list). */
  const goToAnnotation = (info: AnnotationInfo): void => {
    const { seriesUid, imageId } = info;
    if (mode !== '2d' || !grid || !seriesUid || !imageId) return;
    const go = async (): Promise<void> => {
      const shown = grid?.cells.find((c) => c.series?.seriesUid === seriesUid);
      if (shown) {
        setActive(shown);
        const index = shown.series?.imageIds.indexOf(imageId) ?? -1;
        if (index >= 0) await (grid?.viewport(shown))?.setImageIdIndex(index);
        return;
      }
      const seriesInfo = knownSeries.get(seriesUid);
      const cell = activeCell ?? grid?.cells[0];
      if (!seriesInfo || !cell) return;
      const loaded = await loadSeries(seriesInfo);
      await showSeriesIn(cell, seriesInfo, Math.max(0, loaded.imageIds.indexOf(imageId)));
    };
    void go().catch((err) => showError(describe(err)));
  };

  const act = (fn: (vp: Types.IStackViewport) => void) => () => {
    const vp = viewportFor() as Types.IStackViewport | undefined;
    if (!vp) return;
    fn(vp);
    vp.render();
  };
  const actions = {
    invert: act((vp) => vp.setProperties({ invert: !vp.getProperties().invert })),
    rotate: act((vp) => vp.setViewPresentation({ rotation: ((vp.getViewPresentation().rotation ?? 0) + 90) % 360 })),
    flipH: act((vp) => vp.setViewPresentation({ flipHorizontal: !vp.getViewPresentation().flipHorizontal })),
    flipV: act((vp) => vp.setViewPresentation({ flipVertical: !vp.getViewPresentation().flipVertical })),
    reset: act((vp) => {
      vp.resetProperties?.();
      vp.resetCamera();
    }),
  };
  const cineButton = h('button', { type: 'button', 'data-testid': 'action-cine', title: 'Play / stop (Space)', 'aria-pressed': 'false' }, 'Cine') as HTMLButtonElement;
  let cineCell: Cell | undefined;
  const stopCine = (): void => {
    if (cineCell) toolUtils.cine.stopClip(cineCell.element);
    cineCell = undefined;
    cineButton.setAttribute('aria-pressed', 'false');
  };
  const toggleCine = (): void => {
    if (cineCell) {
      stopCine();
      return;
    }
    const cell = activeCell;
    if (mode !== '2d' || !cell?.series || cell.series.imageIds.length < 2) return;
    // Frame Time (0018,1063) is in ms per frame; 15 frames/s when the object does not say.
    const frameTime = num(cell.series.first, Tag.FrameTime);
    const framesPerSecond = frameTime && frameTime > 0 ? Math.min(60, 1000 / frameTime) : 15;
    toolUtils.cine.playClip(cell.element, { framesPerSecond, loop: true });
    cineCell = cell;
    cineButton.setAttribute('aria-pressed', 'true');
  };
  cineButton.addEventListener('click', toggleCine);
  const actionGroup = h('div', { className: 'group' },
    h('button', { type: 'button', 'data-testid': 'action-invert', title: 'Invert (I)', onclick: actions.invert }, 'Invert'),
    h('button', { type: 'button', 'data-testid': 'action-rotate', title: 'Rotate 90° (R)', onclick: actions.rotate }, 'Rotate'),
    h('button', { type: 'button', 'data-testid': 'action-flip-h', title: 'Flip horizontally (H)', onclick: actions.flipH }, 'Flip H'),
    h('button', { type: 'button', 'data-testid': 'action-flip-v', title: 'Flip vertically (V)', onclick: actions.flipV }, 'Flip V'),
    h('button', { type: 'button', 'data-testid': 'action-reset', title: 'Reset (Esc)', onclick: actions.reset }, 'Reset'),
    cineButton,
  );

  const presetSelect = h('select', { 'data-testid': 'voi-presets', 'aria-label': 'Window preset' }) as HTMLSelectElement;
  const applyPreset = (windowWidth: number, windowCenter: number, id?: string): void => {
    const vp = viewportFor(id) as Types.IStackViewport | undefined;
    if (!vp) return;
    vp.setProperties({ voiRange: csUtils.windowLevel.toLowHighRange(windowWidth, windowCenter) });
    vp.render();
  };
  const fillPresets = (modality: string): void => {
    const presets = presetsFor(modality);
    presetSelect.replaceChildren(
      h('option', { value: '' }, 'W/L preset'),
      h('option', { value: 'default' }, 'Default'),
      ...presets.map((p) => h('option', { value: p.id }, `${p.label} ${p.windowWidth}/${p.windowCenter}${p.key ? ` (${p.key})` : ''}`)),
    );
    presetSelect.dataset.modality = modality;
  };
  presetSelect.addEventListener('change', () => {
    const value = presetSelect.value;
    presetSelect.value = '';
    if (value === 'default') {
      const vp = viewportFor() as Types.IStackViewport | undefined;
      vp?.resetProperties?.();
      vp?.render();
      return;
    }
    const preset = presetsFor(presetSelect.dataset.modality ?? '').find((p) => p.id === value);
    if (preset) applyPreset(preset.windowWidth, preset.windowCenter);
  });
  fillPresets('');

  const layoutGroup = h('div', { className: 'group', 'data-testid': 'layouts' });
  const layoutButtons = new Map<Layout, HTMLButtonElement>();
  for (const layout of ['1x1', '1x2', '2x2'] as Layout[]) {
    const button = h('button', { type: 'button', 'data-testid': `layout-${layout}`, onclick: () => setLayout(layout) }, layout.replace('x', '×')) as HTMLButtonElement;
    layoutButtons.set(layout, button);
    layoutGroup.append(button);
  }

  const modeGroup = h('div', { className: 'group', 'data-testid': 'modes' });
  const modeButtons = new Map<Mode, HTMLButtonElement>();
  for (const [m, label] of [['2d', '2D'], ['mpr', 'MPR'], ['3d', '3D']] as [Mode, string][]) {
    const button = h('button', {
      type: 'button',
      'data-testid': `mode-${m}`,
      'aria-pressed': String(m === '2d'),
      onclick: () => void setMode(m),
    }, label) as HTMLButtonElement;
    modeButtons.set(m, button);
    modeGroup.append(button);
  }
  const slabSelect = h('select', { 'data-testid': 'slab-thickness', 'aria-label': 'Slab thickness', hidden: true }) as HTMLSelectElement;
  for (const mm of [0, 5, 10, 20, 40]) slabSelect.append(h('option', { value: mm }, mm ? `Slab ${mm} mm` : 'Thin'));
  const mipToggle = h('input', { type: 'checkbox', 'data-testid': 'mip-toggle' }) as HTMLInputElement;
  const mipLabel = h('label', { className: 'mip', hidden: true }, mipToggle, ' MIP');
  const applySlab = (): void => volumeView?.setSlab(Number(slabSelect.value), mipToggle.checked);
  slabSelect.addEventListener('change', applySlab);
  mipToggle.addEventListener('change', () => {
    if (mipToggle.checked && Number(slabSelect.value) === 0) slabSelect.value = '20';
    applySlab();
  });
  const preset3d = h('select', { 'data-testid': 'volume-presets', 'aria-label': '3D preset', hidden: true }) as HTMLSelectElement;
  for (const p of VOLUME_PRESETS) preset3d.append(h('option', { value: p }, p));
  preset3d.addEventListener('change', () => volumeView?.setPreset(preset3d.value));

  toolbar.append(toolGroupEl, actionGroup, h('div', { className: 'group' }, presetSelect), layoutGroup, modeGroup,
    h('div', { className: 'group' }, slabSelect, mipLabel, preset3d));

  // ---- layouts and modes -----------------------------------------------------------
  const fillEmptyCells = async (): Promise<void> => {
    if (!grid) return;
    const used = new Set(grid.cells.map((c) => c.series?.seriesUid).filter(Boolean));
    const jobs: Promise<void>[] = [];
    for (const cell of grid.cells) {
      if (cell.series) continue;
      const images = series.filter(isImageSeries);
      const next = images.find((s) => !used.has(s.seriesUid)) ?? images[0];
      if (!next) break;
      used.add(next.seriesUid);
      jobs.push(showSeriesIn(cell, next).catch((err) => showError(describe(err))));
    }
    await Promise.all(jobs);
  };

  const setLayout = (layout: Layout): void => {
    if (mode !== '2d') return;
    if (!grid) return;
    const cells = grid.setLayout(layout);
    for (const [l, b] of layoutButtons) b.setAttribute('aria-pressed', String(l === layout));
    if (!activeCell || !cells.includes(activeCell)) setActive(cells[0]);
    void fillEmptyCells();
  };

  const mountGrid = async (assignments: (LoadedSeries | undefined)[]): Promise<void> => {
    if (!engine) return;
    grid = new StackGrid(engine, {
      onActivate: (cell) => setActive(cell),
      onDropSeries: (cell, uid) => {
        const info = knownSeries.get(uid);
        if (info) {
          setActive(cell);
          void showSeriesIn(cell, info).catch((err) => showError(describe(err)));
        }
      },
      onError: (message) => showError(message),
    });
    main.replaceChildren(grid.root);
    const layout: Layout = assignments.length >= 3 ? '2x2' : assignments.length === 2 ? '1x2' : '1x1';
    const cells = grid.setLayout(layout);
    for (const [l, b] of layoutButtons) b.setAttribute('aria-pressed', String(l === layout));
    setActive(cells[0]);
    const jobs = cells.map((cell, i) => {
      const s = assignments[i];
      return s ? grid!.show(cell, s).catch(() => undefined) : Promise.resolve();
    });
    await Promise.all(jobs);
    selectTool(LEFT_BUTTON_TOOLS[leftTool]?.toolName && leftTool !== 'crosshairs' ? leftTool : 'wl');
  };

  const showUnavailable = (why: string): void => {
    messages.querySelector('[data-testid="volume-unavailable"]')?.remove();
    messages.append(h('div', { className: 'notice', role: 'status', 'data-testid': 'volume-unavailable' }, why));
  };

  /** Build the MPR or 3D view of `source` in place of whatever the main area shows. */
  const mountVolume = async (source: LoadedSeries, volumeMode: VolumeMode): Promise<void> => {
    if (!engine) return;
    volumeView?.destroy();
    volumeSeries = source;
    volumeIds.add(volumeIdFor(source));
    volumeView = createVolumeView(engine, source, volumeMode);
    main.replaceChildren(volumeView.root);
    engine.resize(true, false);
    if (volumeMode === 'mpr') {
      leftTool = 'crosshairs';
      for (const [bid, button] of toolButtons) button.setAttribute('aria-pressed', String(bid === 'crosshairs'));
      slabSelect.value = '0';
      mipToggle.checked = false;
    } else {
      preset3d.value = source.modality === 'MR' ? 'MR-Default' : 'CT-Bone';
    }
    try {
      await volumeView.ready;
    } catch (err) {
      showError(`Could not build the volume: ${describe(err)}`);
    }
  };

  /** In MPR/3D, a series picked from the strip replaces the volume shown. */
  const showVolumeSeries = async (info: SeriesInfo): Promise<void> => {
    if (mode === '2d') return;
    const source = await loadSeries(info);
    const why = volumeUnavailableReason(capabilities, source);
    if (why) {
      showUnavailable(why);
      return;
    }
    messages.querySelector('[data-testid="volume-unavailable"]')?.remove();
    if (source.seriesUid !== volumeSeries?.seriesUid) await mountVolume(source, mode);
  };

  const setMode = async (next: Mode): Promise<void> => {
    if (!engine || next === mode) return;
    const source = activeCell?.series ?? volumeSeries;
    if (next !== '2d') {
      const why = volumeUnavailableReason(capabilities, source);
      if (why) {
        showUnavailable(why);
        return;
      }
    }
    messages.querySelector('[data-testid="volume-unavailable"]')?.remove();
    stopCine();
    if (mode === '2d' && grid) keptAssignments = grid.unmount();
    volumeView?.destroy();
    volumeView = undefined;
    grid = undefined;
    activeCell = undefined;
    mode = next;
    for (const [m, b] of modeButtons) b.setAttribute('aria-pressed', String(m === mode));
    for (const b of layoutButtons.values()) b.disabled = mode !== '2d';
    slabSelect.hidden = mode !== 'mpr';
    mipLabel.hidden = mode !== 'mpr';
    preset3d.hidden = mode !== '3d';
    (toolButtons.get('crosshairs') as HTMLButtonElement).hidden = mode !== 'mpr';
    for (const [id, b] of toolButtons) if (id !== 'crosshairs') b.disabled = mode === '3d' || (DRAWING_TOOLS.has(id) && !drawing);
    for (const b of actionGroup.querySelectorAll<HTMLButtonElement>('button')) {
      b.disabled = mode === '3d' && b.dataset.testid !== 'action-reset';
    }
    presetSelect.disabled = mode === '3d';
    if (mode === '2d') {
      await mountGrid(keptAssignments);
      return;
    }
    await mountVolume(source as LoadedSeries, mode);
  };
  let volumeSeries: LoadedSeries | undefined;
  const volumeIds = new Set<string>();

  const stripEvents: StripEvents = {
    onPick: (info) => {
      if (mode !== '2d') {
        void showVolumeSeries(info).catch((err) => showError(describe(err)));
        return;
      }
      const cell = activeCell ?? grid?.cells[0];
      if (cell) void showSeriesIn(cell, info).catch((err) => showError(describe(err)));
    },
    onSeriesKnown: (infos) => {
      for (const info of infos) knownSeries.set(info.seriesUid, info);
    },
    onError: (message) => showError(message),
  };

  // ---- keyboard ----------------------------------------------------------------------
  const onKey = (event: KeyboardEvent): void => {
    const target = event.target as HTMLElement;
    // Form controls keep their own keys (the scrollbar's arrows would otherwise step twice).
    if (target.closest('input, textarea, select, dialog')) return;
    if (event.key === ' ' && target.closest('button')) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const vp = viewportFor() as Types.IStackViewport | undefined;
    const count = activeCell?.series?.imageIds.length ?? 0;
    const scrollBy = (delta: number): void => {
      if (!vp || mode !== '2d' || !count) return;
      const index = Math.min(count - 1, Math.max(0, vp.getCurrentImageIdIndex() + delta));
      void vp.setImageIdIndex(index).catch(() => undefined);
    };
    const keys: Record<string, () => void> = {
      ArrowUp: () => scrollBy(-1),
      ArrowDown: () => scrollBy(1),
      PageUp: () => scrollBy(-10),
      PageDown: () => scrollBy(10),
      Home: () => scrollBy(-count),
      End: () => scrollBy(count),
      i: actions.invert,
      r: actions.rotate,
      h: actions.flipH,
      v: actions.flipV,
      Escape: actions.reset,
      ' ': toggleCine,
      Delete: () => sync?.removeSelected(),
      Backspace: () => sync?.removeSelected(),
    };
    for (const [id, tool] of Object.entries(LEFT_BUTTON_TOOLS)) if (tool.key) keys[tool.key] = () => selectTool(id);
    for (const preset of presetsFor(activeCell?.series?.modality ?? '')) {
      if (preset.key) keys[preset.key] = () => applyPreset(preset.windowWidth, preset.windowCenter);
    }
    const fn = keys[event.key];
    if (fn) {
      event.preventDefault();
      fn();
    }
  };
  document.addEventListener('keydown', onKey);

  // ---- loading -------------------------------------------------------------------------
  const ready = (async () => {
    const capsPromise = startCornerstone();
    const { study: studyPromise, series: seriesPromise } = prefetched ?? prefetchStudy(studyUid, signal);
    const accessPromise = annotationAccess(options.readOnly);
    capabilities = await capsPromise;
    if (window.__hf) window.__hf.capabilities = { webgl: capabilities.webgl, renderer: capabilities.renderer };
    createToolGroups(dialog.ask);
    if (!capabilities.webgl) {
      for (const m of ['mpr', '3d'] as Mode[]) {
        const b = modeButtons.get(m) as HTMLButtonElement;
        b.title = 'Needs WebGL, which this browser does not provide';
        b.classList.add('unavailable');
      }
    }
    const [study, found, who] = await Promise.all([studyPromise, seriesPromise, accessPromise]);
    if (signal.aborted) return;
    sync = new AnnotationSync({
      ...who,
      onError: showError,
      render: () => engine?.render(),
      goTo: goToAnnotation,
    });
    annotationSlot.replaceChildren(sync.panel);
    setDrawing(who.access);
    // A study not found (or not the user's to see) has no measurements to ask for either.
    if (study) void sync.loadStudy(studyUid, signal);
    if (study) {
      studyHeader.replaceChildren(
        h('span', { className: 'patient', 'data-testid': 'study-patient' }, str(study, Tag.PatientName) || '(no name)'),
        h('span', {}, str(study, Tag.PatientID)),
        h('span', {}, formatDate(str(study, Tag.StudyDate))),
        h('span', {}, str(study, Tag.StudyDescription)),
      );
    } else {
      studyHeader.textContent = `Study ${studyUid}`;
    }
    series = seriesFromQido(studyUid, found);
    for (const info of series) knownSeries.set(info.seriesUid, info);
    drawStrip(strip, series, stripEvents);
    // Priors are a convenience: failing to list them is reported but does not stop the viewer.
    // A share link's other studies are listed on its own page instead.
    if (!options.readOnly) void drawPriors(strip, study ? str(study, Tag.PatientID) : '', studyUid, stripEvents, signal).catch((err: Error) => {
      if (err.name !== 'AbortError') showError(`Could not list the patient's other studies: ${err.message}`);
    });
    if (!series.length) {
      showError(study ? 'This study has no series.' : `Study ${studyUid} was not found, or you may not see it.`);
      return;
    }
    sharedEngine ??= new RenderingEngine(ENGINE_ID);
    engine = sharedEngine;
    await mountGrid([]);
    // The series asked for (?series=), else the first series that has images, goes into
    // the first viewport.
    const images = series.filter(isImageSeries);
    if (options.seriesUid) {
      const wanted = images.findIndex((s) => s.seriesUid === options.seriesUid);
      if (wanted >= 0) images.unshift(...images.splice(wanted, 1));
      else showError(`Series ${options.seriesUid} is not an image series of this study; the first series is shown.`);
    }
    for (const info of images) {
      try {
        await showSeriesIn(grid!.cells[0], info);
        mark('firstImage');
        const first = grid!.cells[0].series;
        if (first) void whenAllLoaded(first).then(() => mark('allLoaded'));
        return;
      } catch (err) {
        if (signal.aborted) return;
        if (!(err instanceof Error && /no images/.test(err.message))) {
          showError(describe(err));
          return;
        }
      }
    }
    showError('No series in this study has images to show.');
  })().catch((err: unknown) => {
    if ((err as Error)?.name === 'AbortError') return;
    showError(`Could not open the study: ${describe(err)}`);
  });

  function whenAllLoaded(s: LoadedSeries): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (signal.aborted || loadedCount(s) >= s.imageIds.length) resolve();
        else setTimeout(check, 100);
      };
      check();
    });
  }

  // ---- hooks ---------------------------------------------------------------------------
  const hooks: ViewerHooks = {
    timings,
    getViewportIds: () => (mode === '2d' ? (grid?.cells.map((c) => c.viewportId) ?? []) : (volumeView?.viewportIds ?? [])),
    getActiveViewportId: () => (mode === '2d' ? activeCell?.viewportId : volumeView?.viewportIds[0]),
    getViewport: (id) => viewportFor(id),
    getVOI: (id) => {
      const vp = viewportFor(id) as Types.IStackViewport | undefined;
      const range = vp?.getProperties?.()?.voiRange;
      if (!range) return undefined;
      return { ...csUtils.windowLevel.toWindowLevel(range.lower, range.upper), lower: range.lower, upper: range.upper };
    },
    setVOI: (ww, wc, id) => applyPreset(ww, wc, id),
    getImageIndex: (id) => (viewportFor(id) as Types.IStackViewport | undefined)?.getCurrentImageIdIndex?.(),
    getImageCount: (id) => cellFor(id)?.series?.imageIds.length,
    scrollTo: async (index, id) => {
      const vp = viewportFor(id) as Types.IStackViewport | undefined;
      if (vp) await vp.setImageIdIndex(index);
    },
    getSeriesUid: (id) => (mode === '2d' ? cellFor(id)?.series?.seriesUid : volumeSeries?.seriesUid),
    getLoadProgress: (id) => {
      const s = cellFor(id)?.series;
      return s ? { loaded: loadedCount(s), total: s.imageIds.length } : undefined;
    },
    whenAllLoaded: (id) => {
      const s = cellFor(id)?.series;
      return s ? whenAllLoaded(s) : Promise.resolve();
    },
    getAnnotations: () => sync?.annotations() ?? [],
    whenAnnotationsSaved: () => sync?.whenSaved() ?? Promise.resolve(),
    whenAnnotationsLoaded: () => sync?.whenLoaded() ?? Promise.resolve(),
    worldToCanvas: (point, id) => {
      const vp = viewportFor(id);
      return vp ? (vp.worldToCanvas(point as Types.Point3) as [number, number]) : undefined;
    },
    canvasToPage: (point, id) => {
      const vp = viewportFor(id);
      if (!vp) return undefined;
      const rect = vp.canvas.getBoundingClientRect();
      return [rect.left + point[0], rect.top + point[1]];
    },
    imageToPage: (point, id) => {
      const vp = viewportFor(id) as Types.IStackViewport | undefined;
      const imageId = vp?.getCurrentImageId?.();
      if (!vp || !imageId) return undefined;
      const world = csUtils.imageToWorldCoords(imageId, point);
      if (!world) return undefined;
      const canvas = vp.worldToCanvas(world);
      const rect = vp.canvas.getBoundingClientRect();
      return [rect.left + canvas[0], rect.top + canvas[1]];
    },
    setTool: (id) => selectTool(id),
    setLayout: (layout) => setLayout(layout),
    setMode: (m) => setMode(m),
    getMode: () => mode,
  };

  return {
    ready,
    hooks,
    destroy() {
      document.removeEventListener('keydown', onKey);
      sync?.destroy();
      stopCine();
      resizeObserver.disconnect();
      volumeView?.destroy();
      grid?.unmount();
      // The engine stays (see sharedEngine); its viewports were disabled just above.
      // Keep decoded images cached for a quick return; drop volumes (large, per series).
      for (const id of volumeIds) if (cache.getVolume(id)) cache.removeVolumeLoadObject(id);
    },
  };
}

/** What the user may do with annotations: from the session, or nothing on a share link. */
async function annotationAccess(readOnly?: boolean): Promise<{ access: AnnotationAccess; username: string; editsAll: boolean }> {
  if (readOnly) return { access: 'off', username: '', editsAll: false };
  try {
    const session = await getSession();
    return {
      access: can(session, 'study.annotate') ? 'write' : 'read',
      username: session.user?.username ?? '',
      editsAll: !session.authEnabled || (session.user?.roles.includes('admin') ?? false),
    };
  } catch {
    return { access: 'read', username: '', editsAll: false };
  }
}
