/**
 * Measurements and annotations kept on the server (/api/studies/{study}/annotations).
 * What is drawn, changed or removed in the viewer is saved; a study's saved annotations
 * go into Cornerstone's annotation state when it opens, so each shows when its image is
 * displayed, and its statistics are computed again from the pixels.
 */
import { eventTarget, type Types } from '@cornerstonejs/core';
import { wadors } from '@cornerstonejs/dicom-image-loader';
import {
  AngleTool,
  ArrowAnnotateTool,
  EllipticalROITool,
  Enums as ToolEnums,
  LengthTool,
  RectangleROITool,
  annotation as csAnnotation,
  type Types as ToolTypes,
} from '@cornerstonejs/tools';
import { api } from '../api';
import { Tag, num, type DicomJson } from '../dicomjson';
import { frameImageId, parseFrameImageId } from '../dicomweb';
import { h } from '../dom';

type Annotation = ToolTypes.Annotation;

/** write: saved and editable; read: shown, drawing off; off: not fetched (a share link). */
export type AnnotationAccess = 'write' | 'read' | 'off';

/** The tools whose annotations are kept, with the toolbar label shown in the list. */
export const ANNOTATION_TOOL_LABELS: Record<string, string> = {
  [LengthTool.toolName]: 'Length',
  [AngleTool.toolName]: 'Angle',
  [RectangleROITool.toolName]: 'Rect ROI',
  [EllipticalROITool.toolName]: 'Ellipse ROI',
  [ArrowAnnotateTool.toolName]: 'Arrow',
};

/** One annotation as the server keeps it. */
interface AnnotationRecord {
  id: number;
  study_instance_uid: string;
  series_instance_uid: string;
  sop_instance_uid: string;
  frame: number | null;
  tool: string;
  label: string;
  data: SavedData;
  created_by: string;
  created_at: string;
  updated_at: string;
}

type Stats = Record<string, number | string | number[]>;

/** The serialisable parts of a Cornerstone annotation, kept in the record's data. */
interface SavedData {
  version: 1;
  /** View reference: frame of reference, plane normal, view up (world coordinates). */
  metadata: Record<string, unknown>;
  handles: { points: Types.Point3[]; textBox?: { hasMoved?: boolean; worldPosition?: Types.Point3 } };
  label: string;
  stats: Stats;
}

interface Entry {
  uid: string;
  /** The server's id once saved. */
  id?: number;
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  frame: number;
  author: string;
  createdAt?: string;
  /** local: on a reformatted plane, which no stored image holds, so never sent. */
  state: 'saving' | 'saved' | 'failed' | 'local';
  editable: boolean;
  /** The statistics last saved (shown until the image is displayed and they are recomputed). */
  savedStats: Stats;
  timer?: number;
  /** Requests of one annotation run one after another (a PUT needs the POST's id). */
  chain: Promise<void>;
}

export interface AnnotationInfo {
  uid: string;
  toolName: string;
  viewportId?: string;
  stats: Record<string, unknown>;
  text?: string;
  author?: string;
  saved: boolean;
  studyUid?: string;
  seriesUid?: string;
  imageId?: string;
}

export interface AnnotationSyncOptions {
  access: AnnotationAccess;
  /** The logged-in user; '' when access control is off. */
  username: string;
  /** May change and delete every annotation (an administrator, or access control off). */
  editsAll: boolean;
  onError(message: string): void;
  /** Redraw the viewports (annotations were added or removed). */
  render(): void;
  /** Show the image an annotation is on. */
  goTo(info: AnnotationInfo): void;
}

/** Changes that are saved; statistics recomputed on display are not a change. */
const SAVED_CHANGES = new Set<string>([
  ToolEnums.ChangeTypes.HandlesUpdated,
  ToolEnums.ChangeTypes.LabelChange,
  ToolEnums.ChangeTypes.History,
]);
const SAVE_DELAY_MS = 250;
const MODIFY_DELAY_MS = 600;
/**
 * Cornerstone holds a click back for its double-click test (400 ms) before the tool sees
 * it, so a drawing that ends with a click completes that much later.
 */
const CLICK_SETTLE_MS = 450;
/** Statistic keys that are arrays of many points (pointsInShape) are not worth keeping. */
const MAX_STAT_ARRAY = 16;

export class AnnotationSync {
  readonly panel: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly entries = new Map<string, Entry>();
  private readonly studies = new Map<string, Promise<void>>();
  private pending = 0;
  private waiters: (() => void)[] = [];
  private refreshQueued = false;
  private lastPointerUp = 0;
  private readonly onPointerUp = (): void => {
    this.lastPointerUp = performance.now();
  };

  constructor(private readonly options: AnnotationSyncOptions) {
    this.list = h('ul', { className: 'annotation-items' }) as HTMLUListElement;
    this.panel = h('aside', { className: 'annotation-panel', 'data-testid': 'annotation-list', hidden: options.access === 'off' },
      h('h3', {}, 'Measurements'),
      this.list,
    );
    const target = eventTarget as unknown as EventTarget;
    target.addEventListener(ToolEnums.Events.ANNOTATION_MODIFIED, this.onModified);
    target.addEventListener(ToolEnums.Events.ANNOTATION_COMPLETED, this.onCompleted);
    target.addEventListener(ToolEnums.Events.ANNOTATION_REMOVED, this.onRemoved);
    document.addEventListener('pointerup', this.onPointerUp, true);
  }

  /** Fetch a study's saved annotations once (its series may be shown in any viewport). */
  loadStudy(studyUid: string, signal: AbortSignal): Promise<void> {
    if (this.options.access === 'off') return Promise.resolve();
    let loading = this.studies.get(studyUid);
    if (!loading) {
      loading = api<AnnotationRecord[]>('GET', annotationsUrl(studyUid), undefined, { signal }).then(
        (records) => {
          if (!signal.aborted) this.restore(records);
        },
        (err: Error) => {
          this.studies.delete(studyUid);
          if (err.name !== 'AbortError') this.options.onError(`Could not load the saved measurements: ${err.message}`);
        },
      );
      this.studies.set(studyUid, loading);
    }
    return loading;
  }

  /** Resolves when every study asked for has its annotations in place. */
  whenLoaded(): Promise<void> {
    return Promise.all(this.studies.values()).then(() => undefined);
  }

  /** Resolves when no save is waiting or under way (including a click still held back). */
  async whenSaved(): Promise<void> {
    const settle = this.lastPointerUp + CLICK_SETTLE_MS - performance.now();
    if (settle > 0) await new Promise((resolve) => setTimeout(resolve, settle));
    if (this.pending) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Every annotation in the viewer, with who drew it and whether the server has it. */
  annotations(): AnnotationInfo[] {
    return csAnnotation.state.getAllAnnotations().map((a) => {
      const entry = this.entries.get(a.annotationUID ?? '');
      const data = a.data as { cachedStats?: Record<string, unknown>; label?: string; text?: string };
      const live = flatStats(data.cachedStats);
      return {
        uid: a.annotationUID ?? '',
        toolName: a.metadata?.toolName ?? '',
        viewportId: (a.metadata as { viewportId?: string } | undefined)?.viewportId,
        stats: Object.keys(live).length ? live : { ...entry?.savedStats },
        text: data.label ?? data.text,
        author: entry?.author,
        saved: entry?.state === 'saved',
        studyUid: entry?.studyUid,
        seriesUid: entry?.seriesUid,
        imageId: a.metadata?.referencedImageId,
      };
    });
  }

  /** Delete the selected annotations the user may delete (the Delete key). */
  removeSelected(): boolean {
    const uids = csAnnotation.selection.getAnnotationsSelected().filter((uid) => this.entries.get(uid)?.editable);
    for (const uid of uids) csAnnotation.state.removeAnnotation(uid);
    if (uids.length) this.options.render();
    return uids.length > 0;
  }

  /** Stop listening and take this page's annotations out of Cornerstone's state. */
  destroy(): void {
    const target = eventTarget as unknown as EventTarget;
    target.removeEventListener(ToolEnums.Events.ANNOTATION_MODIFIED, this.onModified);
    target.removeEventListener(ToolEnums.Events.ANNOTATION_COMPLETED, this.onCompleted);
    target.removeEventListener(ToolEnums.Events.ANNOTATION_REMOVED, this.onRemoved);
    document.removeEventListener('pointerup', this.onPointerUp, true);
    // Changes still waiting for their delay are sent now, with what they hold now.
    for (const entry of this.entries.values()) {
      if (entry.timer !== undefined) {
        clearTimeout(entry.timer);
        entry.timer = undefined;
        this.save(entry);
        this.settle();
      }
    }
    // The listeners are off: this removal deletes nothing on the server.
    csAnnotation.state.removeAllAnnotations();
    csAnnotation.locking.unlockAllAnnotations();
    this.entries.clear();
  }

  // ---- Cornerstone events ---------------------------------------------------------------

  private readonly onCompleted = (event: Event): void => {
    const a = (event as CustomEvent<{ annotation: Annotation }>).detail.annotation;
    if (this.options.access !== 'write' || !ANNOTATION_TOOL_LABELS[a.metadata?.toolName ?? '']) return;
    const uid = a.annotationUID ?? '';
    let entry = this.entries.get(uid);
    if (!entry) {
      const ref = parseFrameImageId(a.metadata?.referencedImageId ?? '');
      if (!ref) this.options.onError('This measurement is not on one image (a reformatted plane), so it is not saved.');
      entry = {
        uid,
        studyUid: ref?.studyUid ?? '',
        seriesUid: ref?.seriesUid ?? '',
        sopInstanceUid: ref?.sopInstanceUid ?? '',
        frame: ref?.frame ?? 1,
        author: this.options.username,
        state: ref ? 'saving' : 'local',
        editable: true,
        savedStats: {},
        chain: Promise.resolve(),
      };
      this.entries.set(uid, entry);
    }
    if (entry.editable) this.schedule(entry, SAVE_DELAY_MS);
  };

  private readonly onModified = (event: Event): void => {
    const { annotation: a, changeType } = (event as CustomEvent<{ annotation: Annotation; changeType?: string }>).detail;
    const entry = this.entries.get(a.annotationUID ?? '');
    this.queueRefresh();
    // An annotation still being drawn has no entry yet: it is saved once completed.
    if (!entry || !entry.editable || !SAVED_CHANGES.has(changeType ?? '')) return;
    this.schedule(entry, MODIFY_DELAY_MS);
  };

  private readonly onRemoved = (event: Event): void => {
    const a = (event as CustomEvent<{ annotation: Annotation }>).detail.annotation;
    const entry = this.entries.get(a.annotationUID ?? '');
    if (!entry) return;
    this.entries.delete(entry.uid);
    if (entry.timer !== undefined) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
      this.settle();
    }
    if (entry.editable) {
      this.enqueue(entry, async () => {
        if (entry.id === undefined) return;
        try {
          await api('DELETE', `${annotationsUrl(entry.studyUid)}/${entry.id}`);
        } catch (err) {
          this.failed(`The measurement could not be deleted on the server: ${(err as Error).message}`, err);
        }
      });
    }
    this.queueRefresh();
  };

  // ---- saving -----------------------------------------------------------------------------

  private schedule(entry: Entry, delay: number): void {
    if (entry.state === 'local') {
      this.queueRefresh();
      return;
    }
    if (entry.timer === undefined) this.pending++;
    else clearTimeout(entry.timer);
    entry.state = 'saving';
    entry.timer = window.setTimeout(() => {
      entry.timer = undefined;
      this.save(entry);
      this.settle();
    }, delay);
    this.queueRefresh();
  }

  /** Send the annotation as it is now: POST the first time, PUT afterwards. */
  private save(entry: Entry): void {
    const a = csAnnotation.state.getAnnotation(entry.uid);
    if (!a) return;
    const body = requestBody(a, entry);
    this.enqueue(entry, async () => {
      try {
        const record = entry.id === undefined
          ? await api<AnnotationRecord>('POST', annotationsUrl(entry.studyUid), body)
          : await api<AnnotationRecord>('PUT', `${annotationsUrl(entry.studyUid)}/${entry.id}`, body);
        entry.id = record.id;
        entry.author = record.created_by;
        entry.createdAt = record.created_at;
        entry.savedStats = body.data.stats;
        if (entry.timer === undefined) entry.state = 'saved';
      } catch (err) {
        entry.state = 'failed';
        this.failed(`The measurement could not be saved: ${(err as Error).message}`, err);
      }
      this.queueRefresh();
    });
  }

  private enqueue(entry: Entry, job: () => Promise<void>): void {
    this.pending++;
    entry.chain = entry.chain.then(job).finally(() => this.settle());
  }

  private settle(): void {
    this.pending--;
    if (this.pending > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  private failed(message: string, err: unknown): void {
    if ((err as Error)?.name === 'AbortError') return;
    this.options.onError(message);
  }

  // ---- loading ------------------------------------------------------------------------------

  private restore(records: AnnotationRecord[]): void {
    const { access, username, editsAll } = this.options;
    for (const record of records) {
      if ([...this.entries.values()].some((e) => e.id === record.id)) continue;
      const a = annotationFrom(record);
      if (!a) continue;
      const uid = csAnnotation.state.addAnnotation(a, a.metadata?.FrameOfReferenceUID as string);
      const editable = access === 'write' && (editsAll || record.created_by === username);
      if (!editable) csAnnotation.locking.setAnnotationLocked(uid, true);
      this.entries.set(uid, {
        uid,
        id: record.id,
        studyUid: record.study_instance_uid,
        seriesUid: record.series_instance_uid,
        sopInstanceUid: record.sop_instance_uid,
        frame: record.frame ?? 1,
        author: record.created_by,
        createdAt: record.created_at,
        state: 'saved',
        editable,
        savedStats: record.data?.stats ?? {},
        chain: Promise.resolve(),
      });
    }
    this.options.render();
    this.queueRefresh();
  }

  // ---- the list -------------------------------------------------------------------------------

  private queueRefresh(): void {
    if (this.refreshQueued || this.options.access === 'off') return;
    this.refreshQueued = true;
    requestAnimationFrame(() => {
      this.refreshQueued = false;
      this.drawList();
    });
  }

  private drawList(): void {
    const items = this.annotations().filter((info) => ANNOTATION_TOOL_LABELS[info.toolName]);
    if (!items.length) {
      this.list.replaceChildren(h('li', { className: 'annotation-empty' }, this.options.access === 'write' ? 'None yet: draw with Length, Angle, ROI or Arrow.' : 'None.'));
      return;
    }
    this.list.replaceChildren(...items.map((info) => {
      const entry = this.entries.get(info.uid);
      const state = entry?.state ?? 'saving';
      const when = entry?.createdAt ? ` on ${entry.createdAt.slice(0, 16).replace('T', ' ')}` : '';
      const title = `${ANNOTATION_TOOL_LABELS[info.toolName]} drawn by ${info.author || 'you'}${when}` +
        (state === 'failed' ? ' (not saved)' : state === 'saving' ? ' (saving…)' : state === 'local' ? ' (on a reformatted plane: not saved)' : '');
      const go = h('button', { type: 'button', className: 'annotation-go', 'data-testid': 'annotation-go', title },
        h('span', { className: 'annotation-value' }, describeAnnotation(info)),
        h('span', { className: 'annotation-author', 'data-testid': 'annotation-author' }, info.author || ''),
      );
      go.addEventListener('click', () => this.options.goTo(info));
      const remove = entry?.editable
        ? h('button', { type: 'button', className: 'annotation-delete', 'data-testid': 'annotation-delete', title: 'Delete this measurement', 'aria-label': 'Delete' }, '×')
        : null;
      remove?.addEventListener('click', () => {
        csAnnotation.state.removeAnnotation(info.uid);
        this.options.render();
      });
      // A failed save is tried again from the list (or by any change to the measurement).
      const mark = state === 'failed' && entry
        ? h('button', { type: 'button', className: 'annotation-state', 'data-testid': 'annotation-retry', title: 'Not saved: try again' }, '!')
        : h('span', { className: 'annotation-state', 'aria-label': state }, { saved: '✓', saving: '…', failed: '!', local: '–' }[state]);
      if (state === 'failed' && entry) mark.addEventListener('click', () => this.schedule(entry, 0));
      return h('li', {
        className: `annotation-item ${state}`,
        'data-testid': 'annotation-item',
        'data-annotation-uid': info.uid,
        'data-author': info.author ?? '',
        'data-saved': String(info.saved),
      }, go, mark, remove);
    }));
  }
}

function annotationsUrl(studyUid: string): string {
  return `/api/studies/${encodeURIComponent(studyUid)}/annotations`;
}

/** The numbers of cachedStats (one entry per image or volume), without per-pixel arrays. */
function flatStats(cachedStats: Record<string, unknown> | undefined): Stats {
  const out: Stats = {};
  for (const target of Object.values(cachedStats ?? {})) {
    for (const [key, value] of Object.entries((target ?? {}) as Record<string, unknown>)) {
      if (typeof value === 'number' && Number.isFinite(value)) out[key] = value;
      else if (typeof value === 'string') out[key] = value;
      else if (Array.isArray(value) && value.length > 0 && value.length <= MAX_STAT_ARRAY && value.every((v) => typeof v === 'number')) out[key] = value as number[];
    }
  }
  return out;
}

const METADATA_KEYS = ['FrameOfReferenceUID', 'viewPlaneNormal', 'viewUp', 'cameraFocalPoint', 'sliceIndex', 'planeRestriction'];

function requestBody(a: Annotation, entry: Entry): {
  series_instance_uid: string; sop_instance_uid: string; frame: number | null; tool: string; label: string; data: SavedData;
} {
  const metadata: Record<string, unknown> = {};
  for (const key of METADATA_KEYS) {
    const value = (a.metadata as Record<string, unknown> | undefined)?.[key];
    // Vectors may be typed arrays, which JSON would turn into objects.
    if (value !== undefined) metadata[key] = JSON.parse(JSON.stringify(value, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v))) as unknown;
  }
  const handles = a.data.handles ?? {};
  const textBox = handles.textBox;
  const stats = flatStats(a.data.cachedStats as Record<string, unknown> | undefined);
  const toolName = a.metadata?.toolName ?? '';
  const text = a.data.label ?? '';
  const imageId = frameImageId(entry.studyUid, entry.seriesUid, entry.sopInstanceUid, entry.frame);
  const instance = wadors.metaDataManager.get(imageId) as DicomJson | undefined;
  const multiframe = (num(instance, Tag.NumberOfFrames) ?? 1) > 1;
  return {
    series_instance_uid: entry.seriesUid,
    sop_instance_uid: entry.sopInstanceUid,
    frame: multiframe ? entry.frame : null,
    tool: toolName,
    label: text || describeAnnotation({ toolName, stats }),
    data: {
      version: 1,
      metadata,
      handles: {
        points: (handles.points ?? []).map((p) => [p[0], p[1], p[2]] as Types.Point3),
        ...(textBox ? { textBox: { hasMoved: Boolean(textBox.hasMoved), worldPosition: textBox.worldPosition } } : {}),
      },
      label: text,
      stats,
    },
  };
}

/** A Cornerstone annotation from a saved record, for the image it names in this viewer. */
function annotationFrom(record: AnnotationRecord): Annotation | undefined {
  const saved = record.data;
  if (!saved?.handles?.points?.length || !ANNOTATION_TOOL_LABELS[record.tool]) return undefined;
  const referencedImageId = frameImageId(record.study_instance_uid, record.series_instance_uid, record.sop_instance_uid, record.frame ?? 1);
  return {
    highlighted: false,
    // Statistics are computed again when the image is displayed.
    invalidated: true,
    isLocked: false,
    isVisible: true,
    metadata: { ...(saved.metadata ?? {}), toolName: record.tool, referencedImageId } as Annotation['metadata'],
    data: {
      handles: {
        points: saved.handles.points.map((p) => [p[0], p[1], p[2]] as Types.Point3),
        activeHandleIndex: null,
        textBox: {
          hasMoved: Boolean(saved.handles.textBox?.hasMoved),
          worldPosition: saved.handles.textBox?.worldPosition ?? ([0, 0, 0] as Types.Point3),
          worldBoundingBox: {
            topLeft: [0, 0, 0], topRight: [0, 0, 0], bottomLeft: [0, 0, 0], bottomRight: [0, 0, 0],
          },
        },
      },
      label: saved.label ?? '',
      cachedStats: {},
    },
  };
}

function fixed(value: unknown, digits = 1): string {
  return typeof value === 'number' ? value.toFixed(digits) : '';
}

/** "Length 42.1 mm", "Angle 31.0°", "Ellipse ROI 120.3 mm² mean 40.2 HU", "Arrow: text". */
export function describeAnnotation(info: { toolName: string; stats: Record<string, unknown>; text?: string }): string {
  const s = info.stats;
  const label = ANNOTATION_TOOL_LABELS[info.toolName] ?? info.toolName;
  let value = '';
  if (typeof s.length === 'number') value = `${fixed(s.length)} ${String(s.unit ?? 'mm')}`;
  else if (typeof s.angle === 'number') value = `${fixed(s.angle)}°`;
  else if (typeof s.area === 'number') {
    value = `${fixed(s.area)} ${String(s.areaUnit ?? 'mm²')}`;
    if (typeof s.mean === 'number') value += ` mean ${fixed(s.mean)}${s.modalityUnit ? ` ${String(s.modalityUnit)}` : ''}`;
  }
  const text = info.text ? `: ${info.text}` : '';
  return [label, value].filter(Boolean).join(' ') + text;
}
