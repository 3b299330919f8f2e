/**
 * The few DICOMweb calls the front end makes (PS3.18): QIDO-RS searches and WADO-RS
 * metadata, always as application/dicom+json, against the same origin's /dicom-web.
 */
import type { DicomJson } from './dicomjson';

export const DICOMWEB_ROOT = '/dicom-web';

/** A failed DICOMweb request; the message names the URL and the server's answer. */
export class DicomWebError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    detail: string,
  ) {
    super(`${status ? `HTTP ${status}` : 'Network error'} from ${url}${detail ? `: ${detail}` : ''}`);
    this.name = 'DicomWebError';
  }
}

/**
 * Headers every DICOMweb request carries beyond its own: on a share link's page, the
 * link's access value (X-Share-Token, web/security.py) instead of a session.
 */
const extraHeaders: Record<string, string> = {};

export const SHARE_HEADER = 'X-Share-Token';

/** Send (or, with undefined, stop sending) a share link's access value with DICOMweb requests. */
export function setShareAccess(value: string | undefined): void {
  if (value) extraHeaders[SHARE_HEADER] = value;
  else delete extraHeaders[SHARE_HEADER];
  // Metadata fetched under another identity must not be reused.
  metadataRequests.clear();
}

/** The extra headers for DICOMweb requests (also given to the image loader). */
export function dicomWebHeaders(): Record<string, string> {
  return { ...extraHeaders };
}

async function getJson(url: string, signal?: AbortSignal): Promise<DicomJson[]> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { Accept: 'application/dicom+json', ...extraHeaders },
      credentials: 'same-origin',
      signal,
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new DicomWebError(url, 0, (err as Error).message);
  }
  // PS3.18 8.3.4: 204 No Content is an empty result (older servers); 200 carries an array.
  if (response.status === 204) return [];
  if (!response.ok) throw new DicomWebError(url, response.status, await errorDetail(response));
  const text = await response.text();
  if (!text.trim()) return [];
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new DicomWebError(url, response.status, 'response is not JSON');
  }
  if (!Array.isArray(body)) throw new DicomWebError(url, response.status, 'response is not a JSON array');
  return body as DicomJson[];
}

/** The server's own words about a failure: a JSON error's message, or short plain text. */
async function errorDetail(response: Response): Promise<string> {
  const type = response.headers.get('Content-Type') ?? '';
  let text = '';
  try {
    text = await response.text();
  } catch {
    return response.statusText;
  }
  if (type.includes('json')) {
    try {
      const body = JSON.parse(text) as Record<string, unknown>;
      const message = body.detail ?? body.message ?? body.error ?? body.title;
      if (typeof message === 'string') return message.slice(0, 300);
    } catch {
      // fall through to the status text
    }
  } else if (type.startsWith('text/plain')) {
    return text.trim().slice(0, 300);
  }
  return response.statusText;
}

/** Query parameters for a study search (PS3.18 10.6.1); empty values are left out. */
export interface StudyQuery {
  PatientName?: string;
  PatientID?: string;
  AccessionNumber?: string;
  StudyDate?: string;
  ModalitiesInStudy?: string;
  StudyDescription?: string;
  ReferringPhysicianName?: string;
  limit?: number;
  offset?: number;
}

/** Attributes the study list shows beyond the QIDO default return set (PS3.18 Table 10.6.3-3). */
export const STUDY_INCLUDE_FIELDS = [
  '00100030', // PatientBirthDate
  '00100040', // PatientSex
  '00081030', // StudyDescription
  '00080061', // ModalitiesInStudy
  '00201206', // NumberOfStudyRelatedSeries
  '00201208', // NumberOfStudyRelatedInstances
];

export function studySearchUrl(query: StudyQuery): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    params.append(key, String(value));
  }
  for (const field of STUDY_INCLUDE_FIELDS) params.append('includefield', field);
  return `${DICOMWEB_ROOT}/studies?${params.toString()}`;
}

export function searchStudies(query: StudyQuery, signal?: AbortSignal): Promise<DicomJson[]> {
  return getJson(studySearchUrl(query), signal);
}

/** One study's attributes (QIDO-RS with a StudyInstanceUID match). */
export async function getStudy(studyUid: string, signal?: AbortSignal): Promise<DicomJson | undefined> {
  const params = new URLSearchParams({ StudyInstanceUID: studyUid });
  for (const field of STUDY_INCLUDE_FIELDS) params.append('includefield', field);
  const found = await getJson(`${DICOMWEB_ROOT}/studies?${params.toString()}`, signal);
  return found[0];
}

export function searchSeries(studyUid: string, signal?: AbortSignal): Promise<DicomJson[]> {
  const params = new URLSearchParams();
  // SeriesDescription and counts are in the default series return set; ask anyway.
  for (const field of ['0008103E', '00201209', '00080021', '00080031']) params.append('includefield', field);
  return getJson(`${DICOMWEB_ROOT}/studies/${enc(studyUid)}/series?${params.toString()}`, signal);
}

const metadataRequests = new Map<string, Promise<DicomJson[]>>();

/**
 * WADO-RS series metadata (PS3.18 10.4.1.1.2): the DICOM JSON of every instance. One
 * request per series; a request started early (see prefetchStudy) is reused.
 */
export function seriesMetadata(studyUid: string, seriesUid: string): Promise<DicomJson[]> {
  const url = `${DICOMWEB_ROOT}/studies/${enc(studyUid)}/series/${enc(seriesUid)}/metadata`;
  let request = metadataRequests.get(url);
  if (!request) {
    request = getJson(url);
    request.catch(() => metadataRequests.delete(url));
    metadataRequests.set(url, request);
  }
  return request;
}

/** Forget fetched metadata (the viewer registers it with the image loader, which keeps it). */
export function forgetSeriesMetadata(): void {
  metadataRequests.clear();
}

export interface StudyPrefetch {
  study: Promise<DicomJson | undefined>;
  series: Promise<DicomJson[]>;
}

/**
 * Start the viewer's first requests (study, series, and the first series' metadata)
 * while the viewer code itself is still downloading, so the first image comes sooner.
 */
export function prefetchStudy(studyUid: string, signal?: AbortSignal): StudyPrefetch {
  const study = getStudy(studyUid, signal);
  const series = searchSeries(studyUid, signal);
  series.then(
    (found) => {
      const first = found.find((ds) => !NON_IMAGE_MODALITIES.has(String(ds['00080060']?.Value?.[0] ?? '')));
      const uid = first?.['0020000E']?.Value?.[0];
      if (typeof uid === 'string' && !signal?.aborted) seriesMetadata(studyUid, uid).catch(() => undefined);
    },
    () => undefined,
  );
  // Errors are reported by whoever awaits these; avoid "unhandled rejection" noise meanwhile.
  study.catch(() => undefined);
  return { study, series };
}

/** Modalities whose series hold no images (PS3.3 C.7.3.1.1.1): no thumbnail, no viewport. */
export const NON_IMAGE_MODALITIES = new Set([
  'SR', 'DOC', 'KO', 'PR', 'REG', 'RTSTRUCT', 'RTPLAN', 'RTRECORD', 'FID', 'AU', 'ECG', 'HD', 'PLAN',
]);

export function seriesThumbnailUrl(studyUid: string, seriesUid: string): string {
  return `${DICOMWEB_ROOT}/studies/${enc(studyUid)}/series/${enc(seriesUid)}/thumbnail`;
}

/** The wadors: image ID of one frame (frames are numbered from 1, PS3.18 10.4.1.1.6). */
export function frameImageId(studyUid: string, seriesUid: string, sopInstanceUid: string, frame: number): string {
  return `wadors:${DICOMWEB_ROOT}/studies/${enc(studyUid)}/series/${enc(seriesUid)}/instances/${enc(sopInstanceUid)}/frames/${frame}`;
}

/** The study, series, instance and frame of a frameImageId (undefined for other image IDs). */
export function parseFrameImageId(imageId: string): { studyUid: string; seriesUid: string; sopInstanceUid: string; frame: number } | undefined {
  const m = /\/studies\/([^/]+)\/series\/([^/]+)\/instances\/([^/]+)\/frames\/(\d+)$/.exec(imageId);
  if (!m) return undefined;
  return { studyUid: decodeURIComponent(m[1]), seriesUid: decodeURIComponent(m[2]), sopInstanceUid: decodeURIComponent(m[3]), frame: Number(m[4]) };
}

function enc(uid: string): string {
  return encodeURIComponent(uid);
}
