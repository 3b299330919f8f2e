/**
 * A series ready for display: its instances sorted into viewing order, one wadors:
 * image ID per frame, and each instance's DICOM JSON registered with the image loader
 * so no image needs a second metadata request.
 */
import { wadors } from '@cornerstonejs/dicom-image-loader';
import { Tag, num, nums, str, type DicomJson } from '../dicomjson';
import { NON_IMAGE_MODALITIES, frameImageId, seriesMetadata } from '../dicomweb';

export interface SeriesInfo {
  studyUid: string;
  seriesUid: string;
  modality: string;
  description: string;
  number?: number;
  /** Instances in the series (from QIDO), before the metadata arrives. */
  instanceCount?: number;
  /** The QIDO-RS series attributes. */
  attributes: DicomJson;
}

export interface LoadedSeries extends SeriesInfo {
  imageIds: string[];
  /** The DICOM JSON of the first instance in viewing order (patient, study, series data). */
  first: DicomJson;
  /** True when the images can form a volume: one orientation, parallel, distinct positions. */
  reconstructable: boolean;
  multiframe: boolean;
}

const loaded = new Map<string, Promise<LoadedSeries>>();

export function isImageSeries(info: SeriesInfo): boolean {
  return !NON_IMAGE_MODALITIES.has(info.modality);
}

export function loadSeries(info: SeriesInfo): Promise<LoadedSeries> {
  let promise = loaded.get(info.seriesUid);
  if (!promise) {
    promise = fetchSeries(info);
    promise.catch(() => loaded.delete(info.seriesUid));
    loaded.set(info.seriesUid, promise);
  }
  return promise;
}

async function fetchSeries(info: SeriesInfo): Promise<LoadedSeries> {
  const instances = await seriesMetadata(info.studyUid, info.seriesUid);
  if (!instances.length) throw new Error(`Series ${info.seriesUid} has no instances in its metadata.`);
  const images = instances.filter((ds) => num(ds, Tag.Rows) !== undefined && num(ds, Tag.Columns) !== undefined);
  if (!images.length) throw new Error(`Series ${info.seriesUid} has no images (no Rows/Columns in any instance).`);
  const sorted = sortInstances(images);
  const imageIds: string[] = [];
  let multiframe = false;
  for (const ds of sorted) {
    const sopInstanceUid = str(ds, Tag.SOPInstanceUID);
    const frames = Math.max(1, num(ds, Tag.NumberOfFrames) ?? 1);
    if (frames > 1) multiframe = true;
    for (let frame = 1; frame <= frames; frame++) {
      const imageId = frameImageId(info.studyUid, info.seriesUid, sopInstanceUid, frame);
      // The loader reads pixel module, plane and VOI attributes from this JSON (PS3.18 F.2).
      wadors.metaDataManager.add(imageId, ds as never);
      imageIds.push(imageId);
    }
  }
  return {
    ...info,
    modality: info.modality || str(sorted[0], Tag.Modality),
    imageIds,
    first: sorted[0],
    reconstructable: !multiframe && isReconstructable(sorted),
    multiframe,
  };
}

/** The normal of an image plane: row direction × column direction (PS3.3 C.7.6.2.1.1). */
function normalOf(ds: DicomJson): [number, number, number] | undefined {
  const o = nums(ds, Tag.ImageOrientationPatient);
  if (o.length !== 6) return undefined;
  return [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]];
}

function distanceAlong(ds: DicomJson, normal: [number, number, number]): number | undefined {
  const p = nums(ds, Tag.ImagePositionPatient);
  if (p.length !== 3) return undefined;
  return p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2];
}

/**
 * Order instances by position along the slice normal when all have geometry
 * (head to foot for axial CT, as radiologists page through), else by InstanceNumber.
 */
export function sortInstances(instances: DicomJson[]): DicomJson[] {
  const byNumber = (a: DicomJson, b: DicomJson): number =>
    (num(a, Tag.InstanceNumber) ?? 0) - (num(b, Tag.InstanceNumber) ?? 0);
  const normal = normalOf(instances[0]);
  if (!normal) return [...instances].sort(byNumber);
  const keyed = instances.map((ds) => ({ ds, d: distanceAlong(ds, normal) }));
  if (keyed.some((k) => k.d === undefined)) return [...instances].sort(byNumber);
  return keyed.sort((a, b) => (b.d as number) - (a.d as number) || byNumber(a.ds, b.ds)).map((k) => k.ds);
}

function isReconstructable(sorted: DicomJson[]): boolean {
  if (sorted.length < 3) return false;
  const first = nums(sorted[0], Tag.ImageOrientationPatient);
  if (first.length !== 6) return false;
  const normal = normalOf(sorted[0]) as [number, number, number];
  const rows = num(sorted[0], Tag.Rows);
  const columns = num(sorted[0], Tag.Columns);
  const positions = new Set<number>();
  for (const ds of sorted) {
    const o = nums(ds, Tag.ImageOrientationPatient);
    if (o.length !== 6 || o.some((v, i) => Math.abs(v - first[i]) > 1e-3)) return false;
    if (num(ds, Tag.Rows) !== rows || num(ds, Tag.Columns) !== columns) return false;
    const d = distanceAlong(ds, normal);
    if (d === undefined) return false;
    positions.add(Math.round(d * 1000));
  }
  return positions.size === sorted.length;
}

export function seriesInfoFromQido(studyUid: string, ds: DicomJson): SeriesInfo {
  return {
    studyUid,
    seriesUid: str(ds, Tag.SeriesInstanceUID),
    modality: str(ds, Tag.Modality),
    description: str(ds, Tag.SeriesDescription),
    number: num(ds, Tag.SeriesNumber),
    instanceCount: num(ds, Tag.NumberOfSeriesRelatedInstances),
    attributes: ds,
  };
}
