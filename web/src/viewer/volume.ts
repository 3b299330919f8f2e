/**
 * MPR (axial, sagittal, coronal orthographic viewports with crosshairs), thick slab and
 * MIP, and 3D volume rendering. All need WebGL; the caller checks that first.
 */
import {
  Enums,
  setVolumesForViewports,
  volumeLoader,
  type RenderingEngine,
  type Types,
} from '@cornerstonejs/core';
import { CrosshairsTool, ToolGroupManager } from '@cornerstonejs/tools';
import { h } from '../dom';
import type { Capabilities } from './cornerstone';
import { createOverlay, type Overlay } from './overlay';
import type { LoadedSeries } from './series';
import { MPR_GROUP, VOLUME3D_GROUP, setLeftButtonTool } from './toolgroups';

export type VolumeMode = 'mpr' | '3d';

export const VOLUME_PRESETS = ['CT-Bone', 'CT-Soft-Tissue', 'MR-Default', 'CT-Lung', 'CT-MIP', 'MR-MIP'] as const;

export interface VolumeView {
  root: HTMLElement;
  viewportIds: string[];
  mode: VolumeMode;
  ready: Promise<void>;
  setSlab(thicknessMm: number, mip: boolean): void;
  setPreset(preset: string): void;
  destroy(): void;
}

const ORIENTATIONS: [string, Enums.OrientationAxis][] = [
  ['axial', Enums.OrientationAxis.AXIAL],
  ['sagittal', Enums.OrientationAxis.SAGITTAL],
  ['coronal', Enums.OrientationAxis.CORONAL],
];

export function volumeIdFor(series: LoadedSeries): string {
  return `cornerstoneStreamingImageVolume:hf-${series.seriesUid}`;
}

export function createVolumeView(engine: RenderingEngine, series: LoadedSeries, mode: VolumeMode): VolumeView {
  const root = h('div', { className: `grid volume-${mode}`, 'data-testid': `volume-${mode}` });
  const viewportIds: string[] = [];
  const overlays = new Map<string, Overlay>();
  const groupId = mode === 'mpr' ? MPR_GROUP : VOLUME3D_GROUP;
  const group = ToolGroupManager.getToolGroup(groupId);
  // Crosshairs need all three viewports; keep the tool off while they come and go.
  if (mode === 'mpr') group?.setToolDisabled(CrosshairsTool.toolName);

  const specs: [string, Enums.ViewportType, Enums.OrientationAxis | undefined][] =
    mode === 'mpr'
      ? ORIENTATIONS.map(([name, axis]) => [`mpr-${name}`, Enums.ViewportType.ORTHOGRAPHIC, axis])
      : [['volume-3d', Enums.ViewportType.VOLUME_3D, Enums.OrientationAxis.CORONAL]];

  for (const [viewportId, type, orientation] of specs) {
    const element = h('div', { className: 'viewport-element', 'data-testid': 'viewport-element' }) as HTMLDivElement;
    element.addEventListener('contextmenu', (e) => e.preventDefault());
    const overlay = createOverlay(viewportId);
    overlays.set(viewportId, overlay);
    root.append(h('div', { className: 'cell', 'data-testid': 'viewport', 'data-viewport-id': viewportId }, element, overlay.root));
    engine.enableElement({
      viewportId,
      type,
      element,
      defaultOptions: { orientation, background: [0, 0, 0] as Types.Point3 },
    });
    group?.addViewport(viewportId, engine.id);
    viewportIds.push(viewportId);
    if (mode === 'mpr') {
      const refresh = (): void => {
        const vp = engine.getViewport(viewportId);
        if (vp) overlay.update(vp);
      };
      for (const name of [Enums.Events.VOI_MODIFIED, Enums.Events.CAMERA_MODIFIED, Enums.Events.IMAGE_RENDERED]) {
        element.addEventListener(name, refresh);
      }
    }
  }
  const label = [series.number !== undefined ? `Se ${series.number}` : '', series.description].filter(Boolean).join(' ');
  for (const overlay of overlays.values()) overlay.setStatic(series.first, label);

  const volumeId = volumeIdFor(series);
  let destroyed = false;
  const ready = (async () => {
    const volume = await volumeLoader.createAndCacheVolume(volumeId, { imageIds: series.imageIds });
    if (destroyed) return;
    // Streams every frame into the volume. MPR renders progressively as slices arrive;
    // 3D waits for the whole volume (ray casting a half-filled texture is wasted work and
    // has crashed the software WebGL renderer).
    const loadedAll = new Promise<void>((resolve) => {
      const streaming = volume as unknown as {
        load?: (done: () => void) => void;
        loadStatus?: { loaded?: boolean; loading?: boolean; callbacks?: (() => void)[] };
      };
      const status = streaming.loadStatus;
      if (!streaming.load || status?.loaded) resolve();
      // A load already under way (started by MPR) ignores a new callback; join it instead.
      else if (status?.loading && status.callbacks) status.callbacks.push(() => resolve());
      else streaming.load(() => resolve());
    });
    if (mode === '3d') await loadedAll;
    if (destroyed) return;
    await setVolumesForViewports(engine, [{ volumeId }], viewportIds);
    if (destroyed) return;
    if (mode === 'mpr') setLeftButtonTool(MPR_GROUP, CrosshairsTool.toolName);
    if (mode === '3d') {
      const vp = engine.getViewport(viewportIds[0]) as Types.IVolumeViewport;
      vp.setProperties({ preset: series.modality === 'MR' ? 'MR-Default' : 'CT-Bone' });
    }
    engine.renderViewports(viewportIds);
  })();

  return {
    root,
    viewportIds,
    mode,
    ready,
    setSlab(thicknessMm, mip) {
      for (const id of viewportIds) {
        const vp = engine.getViewport(id) as Types.IVolumeViewport | undefined;
        if (!vp || mode !== 'mpr') continue;
        vp.setBlendMode(mip ? Enums.BlendModes.MAXIMUM_INTENSITY_BLEND : Enums.BlendModes.COMPOSITE);
        if (thicknessMm > 0) vp.setSlabThickness(thicknessMm);
        else vp.resetSlabThickness();
        vp.render();
      }
    },
    setPreset(preset) {
      if (mode !== '3d') return;
      const vp = engine.getViewport(viewportIds[0]) as Types.IVolumeViewport | undefined;
      vp?.setProperties({ preset });
      vp?.render();
    },
    destroy() {
      destroyed = true;
      if (mode === 'mpr') group?.setToolDisabled(CrosshairsTool.toolName);
      for (const id of viewportIds) {
        group?.removeViewports(engine.id, id);
        engine.disableElement(id);
      }
      root.remove();
    },
  };
}

/** Why MPR/3D cannot be offered for this series, or undefined when they can. */
export function volumeUnavailableReason(caps: Capabilities | undefined, series: LoadedSeries | undefined): string | undefined {
  if (!caps?.webgl) {
    return 'MPR and 3D need WebGL, which this browser does not provide (hardware acceleration may be off). The 2D viewer works without it.';
  }
  if (!series) return 'Open a series first.';
  if (series.multiframe) return 'MPR and 3D are not available for multi-frame series yet.';
  if (!series.reconstructable) {
    return 'This series cannot be reconstructed as a volume (fewer than 3 images, or images that differ in orientation, size or position).';
  }
  return undefined;
}
