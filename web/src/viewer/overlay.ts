/**
 * Text overlays on a viewport: patient and study in the top corners, image number and
 * window/level at the bottom, and orientation letters at the four edges, worked out
 * from where the screen's edges point in patient space (LPS, PS3.3 C.7.6.2.1.1), so
 * they stay right after rotation and flips.
 */
import type { Types } from '@cornerstonejs/core';
import { getShouldUseCPURendering, utilities as csUtils } from '@cornerstonejs/core';
import { utilities as toolUtils } from '@cornerstonejs/tools';
import { h } from '../dom';
import { Tag, formatDate, str, values, type DicomJson } from '../dicomjson';

export interface Overlay {
  root: HTMLElement;
  setStatic(first: DicomJson | undefined, seriesLabel: string): void;
  update(viewport: Types.IViewport, extra?: { index?: number; count?: number; loaded?: number }): void;
  clear(): void;
}

export function createOverlay(viewportId: string): Overlay {
  const corner = (pos: string): HTMLElement => h('div', { className: `ov ov-${pos}`, 'data-testid': `overlay-${pos}` });
  const tl = corner('tl');
  const tr = corner('tr');
  const bl = corner('bl');
  const br = corner('br');
  const marker = (pos: string): HTMLElement =>
    h('div', { className: `om om-${pos}`, 'data-testid': `orientation-${pos}` });
  const mTop = marker('top');
  const mBottom = marker('bottom');
  const mLeft = marker('left');
  const mRight = marker('right');
  const root = h(
    'div',
    { className: 'overlay', 'data-testid': 'overlay', 'data-viewport-id': viewportId },
    tl, tr, bl, br, mTop, mBottom, mLeft, mRight,
  );

  const lines = (el: HTMLElement, texts: string[]): void => {
    el.replaceChildren(...texts.filter(Boolean).map((t) => h('div', {}, t)));
  };

  let first: DicomJson | undefined;
  return {
    root,
    setStatic(firstInstance, seriesLabel) {
      first = firstInstance;
      if (!first) {
        lines(tl, []);
        lines(tr, []);
        return;
      }
      const sexAndBirth = [str(first, Tag.PatientSex), formatDate(str(first, Tag.PatientBirthDate))].filter(Boolean).join(' ');
      lines(tl, [str(first, Tag.PatientName), str(first, Tag.PatientID), sexAndBirth]);
      lines(tr, [str(first, Tag.StudyDescription), formatDate(str(first, Tag.StudyDate)), seriesLabel]);
    },
    update(viewport, extra = {}) {
      const bottomLeft: string[] = [];
      if (extra.count) {
        bottomLeft.push(`Im ${(extra.index ?? 0) + 1}/${extra.count}`);
        if (extra.loaded !== undefined && extra.loaded < extra.count) bottomLeft.push(`Loading ${extra.loaded}/${extra.count}`);
      }
      lines(bl, bottomLeft);
      const bottomRight: string[] = [];
      const voi = (viewport as Types.IStackViewport).getProperties?.()?.voiRange;
      if (voi) {
        const { windowWidth, windowCenter } = csUtils.windowLevel.toWindowLevel(voi.lower, voi.upper);
        bottomRight.push(`W ${Math.round(windowWidth)} L ${Math.round(windowCenter)}`);
      }
      // The CPU fallback reports zoom on another scale; show it only where it means "× fit".
      const zoom = getShouldUseCPURendering() ? undefined : (viewport as Types.IStackViewport).getZoom?.();
      if (zoom) bottomRight.push(`Zoom ${Math.round(zoom * 100)}%`);
      lines(br, bottomRight);
      const markers = orientationMarkers(viewport, first);
      mTop.textContent = markers.top;
      mBottom.textContent = markers.bottom;
      mLeft.textContent = markers.left;
      mRight.textContent = markers.right;
    },
    clear() {
      for (const el of [tl, tr, bl, br, mTop, mBottom, mLeft, mRight]) el.replaceChildren();
    },
  };
}

/**
 * Letters for the four screen edges. With Image Orientation (Patient) they come from
 * canvas directions mapped into patient space; projection images without it (CR, DX, XA)
 * use Patient Orientation (0020,0020), which only holds while the image is unrotated and
 * unflipped; otherwise no letters are shown rather than wrong ones.
 */
export function orientationMarkers(
  viewport: Types.IViewport,
  first?: DicomJson,
): { top: string; bottom: string; left: string; right: string } {
  const none = { top: '', bottom: '', left: '', right: '' };
  const inv = toolUtils.orientation.invertOrientationStringLPS;
  if (first && values(first, Tag.ImageOrientationPatient).length !== 6) {
    const po = values(first, Tag.PatientOrientation).map(String);
    const pres = viewport.getViewPresentation?.() ?? {};
    if (po.length !== 2 || (pres.rotation ?? 0) % 360 !== 0 || pres.flipHorizontal || pres.flipVertical) return none;
    return { right: po[0], left: inv(po[0]), bottom: po[1], top: inv(po[1]) };
  }
  const canvas = viewport.canvas;
  const w = canvas?.clientWidth ?? 0;
  const hgt = canvas?.clientHeight ?? 0;
  if (!w || !hgt) return none;
  try {
    const a = viewport.canvasToWorld([0, hgt / 2]);
    const b = viewport.canvasToWorld([w, hgt / 2]);
    const c = viewport.canvasToWorld([w / 2, hgt]);
    const d = viewport.canvasToWorld([w / 2, 0]);
    const right = unit([b[0] - a[0], b[1] - a[1], b[2] - a[2]]);
    const up = unit([d[0] - c[0], d[1] - c[1], d[2] - c[2]]);
    if (!right || !up) return none;
    const r = toolUtils.orientation.getOrientationStringLPS(right);
    const u = toolUtils.orientation.getOrientationStringLPS(up);
    return {
      right: r,
      left: toolUtils.orientation.invertOrientationStringLPS(r),
      top: u,
      bottom: toolUtils.orientation.invertOrientationStringLPS(u),
    };
  } catch {
    return none;
  }
}

function unit(v: Types.Point3): Types.Point3 | undefined {
  const n = Math.hypot(v[0], v[1], v[2]);
  return n > 1e-9 ? [v[0] / n, v[1] / n, v[2] / n] : undefined;
}
