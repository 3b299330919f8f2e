/**
 * The 2D layout: 1×1, 1×2 or 2×2 stack viewports, each with its overlay and scrollbar.
 * A cell shows one series; the first image it shows is loaded first, then the rest of
 * the series streams into the cache nearest-first while the user already scrolls.
 */
import {
  Enums,
  eventTarget,
  type RenderingEngine,
  type Types,
} from '@cornerstonejs/core';
import { ToolGroupManager, utilities as toolUtils } from '@cornerstonejs/tools';
import { h } from '../dom';
import { createOverlay, type Overlay } from './overlay';
import type { LoadedSeries } from './series';
import { STACK_GROUP } from './toolgroups';

export type Layout = '1x1' | '1x2' | '2x2';

export const LAYOUT_CELLS: Record<Layout, number> = { '1x1': 1, '1x2': 2, '2x2': 4 };

export const SERIES_DRAG_TYPE = 'application/x-hounsfield-series';

export interface Cell {
  viewportId: string;
  container: HTMLElement;
  element: HTMLDivElement;
  overlay: Overlay;
  scrollbar: HTMLInputElement;
  series?: LoadedSeries;
  /** Resolves when the cell's first image has rendered. */
  firstImage?: Promise<void>;
}

export interface StackGridEvents {
  onActivate(cell: Cell): void;
  onDropSeries(cell: Cell, seriesUid: string): void;
  onError(message: string): void;
}

/** Images of every series that have arrived, for the "Loading n/N" overlay. */
const loadedImageIds = new Set<string>();
const loadListeners = new Set<() => void>();
let loadNotifyPending = false;
eventTarget.addEventListener(Enums.Events.IMAGE_LOADED, ((event: CustomEvent) => {
  const imageId = event.detail?.image?.imageId;
  if (imageId) loadedImageIds.add(imageId);
  // One overlay refresh per animation frame, however many images arrived in it.
  if (!loadNotifyPending) {
    loadNotifyPending = true;
    requestAnimationFrame(() => {
      loadNotifyPending = false;
      for (const listener of loadListeners) listener();
    });
  }
}) as EventListener);

export function loadedCount(series: LoadedSeries): number {
  let n = 0;
  for (const id of series.imageIds) if (loadedImageIds.has(id)) n++;
  return n;
}

export class StackGrid {
  readonly root: HTMLElement;
  cells: Cell[] = [];
  private layout: Layout = '1x1';
  private nextId = 0;

  private readonly onImagesLoaded = (): void => {
    for (const cell of this.cells) this.refreshOverlay(cell);
  };

  constructor(
    private readonly engine: RenderingEngine,
    private readonly events: StackGridEvents,
  ) {
    this.root = h('div', { className: 'grid layout-1x1', 'data-testid': 'viewport-grid' });
    loadListeners.add(this.onImagesLoaded);
  }

  getLayout(): Layout {
    return this.layout;
  }

  /** Build `layout`'s cells; cells that stay keep their series and state. */
  setLayout(layout: Layout): Cell[] {
    this.layout = layout;
    this.root.className = `grid layout-${layout}`;
    const want = LAYOUT_CELLS[layout];
    while (this.cells.length > want) this.removeCell(this.cells.pop() as Cell);
    while (this.cells.length < want) this.cells.push(this.addCell());
    this.engine.resize(true, true);
    return this.cells;
  }

  /** Disable every viewport (before switching to MPR/3D); series assignments are returned. */
  unmount(): (LoadedSeries | undefined)[] {
    const kept = this.cells.map((c) => c.series);
    loadListeners.delete(this.onImagesLoaded);
    for (const cell of this.cells) this.removeCell(cell);
    this.cells = [];
    return kept;
  }

  private addCell(): Cell {
    const viewportId = `stack-${this.nextId++}`;
    const element = h('div', { className: 'viewport-element', 'data-testid': 'viewport-element' }) as HTMLDivElement;
    element.addEventListener('contextmenu', (e) => e.preventDefault());
    const overlay = createOverlay(viewportId);
    const scrollbar = h('input', {
      type: 'range',
      className: 'scrollbar',
      min: 0,
      max: 0,
      value: 0,
      step: 1,
      'aria-label': 'Image',
      'data-testid': 'scrollbar',
    }) as HTMLInputElement;
    const container = h(
      'div',
      { className: 'cell', 'data-testid': 'viewport', 'data-viewport-id': viewportId, tabindex: 0 },
      element,
      overlay.root,
      scrollbar,
    );
    const cell: Cell = { viewportId, container, element, overlay, scrollbar };
    this.root.append(container);

    this.engine.enableElement({
      viewportId,
      type: Enums.ViewportType.STACK,
      element,
      defaultOptions: { background: [0, 0, 0] as Types.Point3 },
    });
    ToolGroupManager.getToolGroup(STACK_GROUP)?.addViewport(viewportId, this.engine.id);

    container.addEventListener('pointerdown', () => this.events.onActivate(cell), true);
    container.addEventListener('focus', () => this.events.onActivate(cell));
    scrollbar.addEventListener('input', () => {
      const vp = this.viewport(cell);
      if (vp && cell.series) void vp.setImageIdIndex(Number(scrollbar.value)).catch(() => undefined);
    });
    // Series are dragged as our own type, with the UID as text/plain too: some drag
    // paths (automation, other windows) keep only the standard type.
    container.addEventListener('dragover', (event) => {
      const types = event.dataTransfer?.types ?? [];
      if (event.dataTransfer && (types.includes(SERIES_DRAG_TYPE) || types.includes('text/plain'))) {
        event.preventDefault();
        event.dataTransfer.dropEffect = 'copy';
        container.classList.add('drop-target');
      }
    });
    container.addEventListener('dragleave', () => container.classList.remove('drop-target'));
    container.addEventListener('drop', (event) => {
      container.classList.remove('drop-target');
      const uid = event.dataTransfer?.getData(SERIES_DRAG_TYPE) || event.dataTransfer?.getData('text/plain')?.trim();
      if (uid) {
        event.preventDefault();
        this.events.onDropSeries(cell, uid);
      }
    });
    const refresh = (): void => this.refreshOverlay(cell);
    for (const name of [
      Enums.Events.STACK_NEW_IMAGE,
      Enums.Events.VOI_MODIFIED,
      Enums.Events.CAMERA_MODIFIED,
      Enums.Events.IMAGE_RENDERED,
    ]) {
      element.addEventListener(name, refresh);
    }
    return cell;
  }

  private removeCell(cell: Cell): void {
    toolUtils.stackPrefetch.disable(cell.element);
    ToolGroupManager.getToolGroup(STACK_GROUP)?.removeViewports(this.engine.id, cell.viewportId);
    this.engine.disableElement(cell.viewportId);
    cell.container.remove();
  }

  viewport(cell: Cell): Types.IStackViewport | undefined {
    return this.engine.getViewport(cell.viewportId) as Types.IStackViewport | undefined;
  }

  /** Show `series` in `cell`, starting at its middle image (the most telling one). */
  show(cell: Cell, series: LoadedSeries, startIndex?: number): Promise<void> {
    const vp = this.viewport(cell);
    if (!vp) return Promise.reject(new Error(`Viewport ${cell.viewportId} is not enabled.`));
    toolUtils.stackPrefetch.disable(cell.element);
    cell.series = series;
    const index = startIndex ?? Math.floor((series.imageIds.length - 1) / 2);
    cell.scrollbar.max = String(Math.max(0, series.imageIds.length - 1));
    cell.scrollbar.value = String(index);
    cell.scrollbar.hidden = series.imageIds.length < 2;
    const label = [series.number !== undefined ? `Se ${series.number}` : '', series.description].filter(Boolean).join(' ');
    cell.overlay.setStatic(series.first, label);
    cell.container.dataset.seriesUid = series.seriesUid;
    cell.firstImage = vp.setStack(series.imageIds, index).then(
      () => {
        vp.render();
        // The rest of the series streams in, nearest to the current image first.
        toolUtils.stackPrefetch.enable(cell.element);
        this.refreshOverlay(cell);
      },
      (err: unknown) => {
        const message = `Could not show the first image of series ${series.description || series.seriesUid}: ${describe(err)}`;
        this.events.onError(message);
        throw new Error(message);
      },
    );
    return cell.firstImage;
  }

  refreshOverlay(cell: Cell): void {
    const vp = this.viewport(cell);
    if (!vp || !cell.series) return;
    const index = vp.getCurrentImageIdIndex();
    if (document.activeElement !== cell.scrollbar) cell.scrollbar.value = String(index);
    cell.overlay.update(vp, { index, count: cell.series.imageIds.length, loaded: loadedCount(cell.series) });
  }
}

export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object') {
    const e = err as { message?: string; error?: { message?: string }; status?: number };
    if (e.message) return e.message;
    if (e.error?.message) return e.error.message;
    if (e.status) return `HTTP ${e.status}`;
  }
  return String(err);
}
