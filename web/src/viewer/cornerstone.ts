/**
 * One-time start of Cornerstone3D: the rendering core, the DICOM image loader with its
 * decoder workers, and the tools this viewer uses. Without WebGL the core falls back
 * to CPU rendering, which serves stack viewports only.
 */
import {
  init as coreInit,
  getRenderingCapabilities,
  getShouldUseCPURendering,
} from '@cornerstonejs/core';
import {
  init as toolsInit,
  addTool,
  AngleTool,
  ArrowAnnotateTool,
  CrosshairsTool,
  EllipticalROITool,
  LengthTool,
  PanTool,
  RectangleROITool,
  StackScrollTool,
  TrackballRotateTool,
  WindowLevelTool,
  ZoomTool,
} from '@cornerstonejs/tools';
import { init as loaderInit } from '@cornerstonejs/dicom-image-loader';
import { dicomWebHeaders } from '../dicomweb';

export interface Capabilities {
  /** WebGL is usable: volume viewports (MPR, MIP, 3D) can render. */
  webgl: boolean;
  renderer: string;
  softwareRasterizer: boolean;
}

let started: Promise<Capabilities> | undefined;

export function startCornerstone(): Promise<Capabilities> {
  started ??= start();
  return started;
}

async function start(): Promise<Capabilities> {
  coreInit();
  loaderInit({
    // Two decoder workers keep a small machine responsive; more only help big CPUs.
    maxWebWorkers: Math.max(1, Math.min(4, Math.floor((navigator.hardwareConcurrency || 2) / 2))),
    // Frame requests carry what the other DICOMweb requests carry (a share link's access).
    beforeSend: () => dicomWebHeaders(),
  });
  toolsInit();
  for (const tool of [
    WindowLevelTool,
    PanTool,
    ZoomTool,
    StackScrollTool,
    LengthTool,
    AngleTool,
    RectangleROITool,
    EllipticalROITool,
    ArrowAnnotateTool,
    CrosshairsTool,
    TrackballRotateTool,
  ]) {
    addTool(tool);
  }
  const caps = getRenderingCapabilities();
  return {
    webgl: Boolean(caps.webgl) && !getShouldUseCPURendering(),
    renderer: caps.renderer ?? '',
    softwareRasterizer: Boolean(caps.softwareRasterizer),
  };
}
