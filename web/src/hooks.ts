/**
 * window.__hf: a small, stable surface for browser tests and benchmarks. It exposes
 * what the page shows (VOI, image index, load progress, errors) without tests having
 * to reach into Cornerstone's internals.
 */
import type { AnnotationInfo } from './viewer/annotations';

export interface Voi {
  windowWidth: number;
  windowCenter: number;
  lower: number;
  upper: number;
}

export interface ViewerHooks {
  getViewportIds(): string[];
  getActiveViewportId(): string | undefined;
  /** The Cornerstone viewport object (for tests that need more than the helpers below). */
  getViewport(id?: string): unknown;
  getVOI(id?: string): Voi | undefined;
  setVOI(windowWidth: number, windowCenter: number, id?: string): void;
  getImageIndex(id?: string): number | undefined;
  getImageCount(id?: string): number | undefined;
  scrollTo(index: number, id?: string): Promise<void>;
  getSeriesUid(id?: string): string | undefined;
  getLoadProgress(id?: string): { loaded: number; total: number } | undefined;
  /** Resolves when every image of the viewport's series is in the cache. */
  whenAllLoaded(id?: string): Promise<void>;
  /** Every annotation in the viewer: who drew it, whether the server has it (saved). */
  getAnnotations(): AnnotationInfo[];
  /** Resolves when no annotation save is waiting or under way. */
  whenAnnotationsSaved(): Promise<void>;
  /** Resolves when the saved annotations of the studies shown are in place. */
  whenAnnotationsLoaded(): Promise<void>;
  /** Canvas coordinates (CSS pixels) of a world point in a viewport. */
  worldToCanvas(point: number[], id?: string): [number, number] | undefined;
  /** Page coordinates (for mouse events) of a viewport's canvas point. */
  canvasToPage(point: [number, number], id?: string): [number, number] | undefined;
  /** Page coordinates of a pixel (column, row) of the image a stack viewport shows. */
  imageToPage(point: [number, number], id?: string): [number, number] | undefined;
  setTool(toolbarId: string): boolean;
  setLayout(layout: '1x1' | '1x2' | '2x2'): void;
  setMode(mode: '2d' | 'mpr' | '3d'): Promise<void>;
  getMode(): string;
  /**
   * performance.now() stamps in ms (from navigation start): viewerStart, metadata (first
   * series metadata), firstImage (first image rendered), allLoaded (its series cached).
   */
  timings: Record<string, number>;
}

export interface HfGlobal {
  version: string;
  /** Which page is showing (router.ts RouteName): "login", "studies", "patient", "study", "upload", "admin", "viewer", … */
  route: string;
  /** Resolves when the current page has shown its data (or its error); each route change installs a new one. */
  ready: Promise<void>;
  /** Messages shown to the user as errors on the current page. */
  errors: string[];
  capabilities: { webgl?: boolean; renderer?: string };
  viewer?: ViewerHooks;
  /** Convenience forwards to `viewer`, for short test code. */
  getViewport(id?: string): unknown;
  getVOI(id?: string): Voi | undefined;
}

declare global {
  interface Window {
    __hf: HfGlobal;
  }
}

export function installHooks(version: string): HfGlobal {
  const hf: HfGlobal = {
    version,
    route: '',
    ready: Promise.resolve(),
    errors: [],
    capabilities: {},
    getViewport: (id) => hf.viewer?.getViewport(id),
    getVOI: (id) => hf.viewer?.getVOI(id),
  };
  window.__hf = hf;
  return hf;
}

/** Record an error the user sees, for tests to assert on. */
export function reportError(message: string): void {
  window.__hf?.errors.push(message);
}
