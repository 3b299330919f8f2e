/**
 * The series strip: one thumbnail per series of the study, draggable onto a viewport,
 * and below it the patient's other studies, whose series can be opened beside the
 * current ones for comparison.
 */
import { clear, h } from '../dom';
import { Tag, formatDate, str, type DicomJson } from '../dicomjson';
import { dicomWebHeaders, searchSeries, searchStudies, seriesThumbnailUrl } from '../dicomweb';
import { isImageSeries, seriesInfoFromQido, type SeriesInfo } from './series';
import { SERIES_DRAG_TYPE } from './stackgrid';

export interface StripEvents {
  /** A series thumbnail was clicked. */
  onPick(info: SeriesInfo): void;
  /** Series of another study became available (for drops by UID). */
  onSeriesKnown(infos: SeriesInfo[]): void;
  onError(message: string): void;
}

/** Order series by Series Number, those without one last. */
export function seriesFromQido(studyUid: string, found: DicomJson[]): SeriesInfo[] {
  return found
    .map((ds) => seriesInfoFromQido(studyUid, ds))
    .filter((s) => s.seriesUid)
    .sort((a, b) => (a.number ?? 1e9) - (b.number ?? 1e9));
}

export function seriesThumb(info: SeriesInfo, events: StripEvents): HTMLButtonElement {
  const label = [info.number !== undefined ? `${info.number}` : '', info.modality, info.description].filter(Boolean).join(' · ');
  const count = info.instanceCount !== undefined ? `${info.instanceCount} img` : '';
  const images = isImageSeries(info);
  const fallback = h('div', { className: 'thumb-fallback' }, info.modality || '?');
  let picture: HTMLElement = fallback;
  if (images) {
    // Rendered by the server (PS3.18 10.4.1.1.8); the modality label stands in when it fails.
    const img = h('img', { alt: '', loading: 'lazy', decoding: 'async', draggable: 'false' }) as HTMLImageElement;
    img.addEventListener('error', () => img.replaceWith(fallback));
    showThumbnail(img, seriesThumbnailUrl(info.studyUid, info.seriesUid));
    picture = img;
  }
  const thumb = h(
    'button',
    {
      type: 'button',
      className: images ? 'thumb' : 'thumb non-image',
      draggable: images ? 'true' : 'false',
      title: images ? `${label} (drag onto a viewport)` : `${label} (no images to display)`,
      'data-testid': 'series-thumb',
      'data-series-uid': info.seriesUid,
      'data-study-uid': info.studyUid,
    },
    picture,
    h('span', { className: 'thumb-label' }, label || info.seriesUid),
    h('span', { className: 'thumb-count' }, count),
  ) as HTMLButtonElement;
  thumb.addEventListener('dragstart', (event) => {
    event.dataTransfer?.setData(SERIES_DRAG_TYPE, info.seriesUid);
    event.dataTransfer?.setData('text/plain', info.seriesUid);
    if (event.dataTransfer) event.dataTransfer.effectAllowed = 'copy';
  });
  thumb.addEventListener('click', () => {
    if (images) events.onPick(info);
  });
  return thumb;
}

/**
 * An <img> cannot send headers: when DICOMweb requests need one (a share link's access),
 * the thumbnail is fetched and shown from a blob URL.
 */
function showThumbnail(img: HTMLImageElement, url: string): void {
  const headers = dicomWebHeaders();
  if (!Object.keys(headers).length) {
    img.src = url;
    return;
  }
  fetch(url, { headers, credentials: 'same-origin' })
    .then((response) => (response.ok ? response.blob() : Promise.reject(new Error(`HTTP ${response.status}`))))
    .then(
      (blob) => {
        const objectUrl = URL.createObjectURL(blob);
        img.addEventListener('load', () => URL.revokeObjectURL(objectUrl), { once: true });
        img.addEventListener('error', () => URL.revokeObjectURL(objectUrl), { once: true });
        img.src = objectUrl;
      },
      () => img.dispatchEvent(new Event('error')),
    );
}

export function drawStrip(strip: HTMLElement, series: SeriesInfo[], events: StripEvents): void {
  clear(strip);
  strip.append(...series.map((info) => seriesThumb(info, events)));
}

/**
 * List the patient's other studies (QIDO-RS by PatientID, newest first) under the
 * strip; opening one fetches its series and shows their thumbnails.
 */
export async function drawPriors(
  strip: HTMLElement,
  patientId: string,
  currentStudyUid: string,
  events: StripEvents,
  signal: AbortSignal,
): Promise<void> {
  if (!patientId) return;
  const found = await searchStudies({ PatientID: patientId, limit: 50 }, signal);
  const priors = found
    .filter((ds) => str(ds, Tag.StudyInstanceUID) && str(ds, Tag.StudyInstanceUID) !== currentStudyUid)
    .sort((a, b) => `${str(b, Tag.StudyDate)}${str(b, Tag.StudyTime)}`.localeCompare(`${str(a, Tag.StudyDate)}${str(a, Tag.StudyTime)}`));
  if (!priors.length || signal.aborted) return;
  const section = h('section', { className: 'priors', 'data-testid': 'prior-studies' }, h('h3', {}, 'Other studies'));
  for (const ds of priors) {
    const studyUid = str(ds, Tag.StudyInstanceUID);
    const body = h('div', { className: 'prior-series' });
    const toggle = h(
      'button',
      { type: 'button', className: 'prior', 'data-testid': 'prior-study', 'data-study-uid': studyUid, 'aria-expanded': 'false' },
      h('span', {}, formatDate(str(ds, Tag.StudyDate))),
      h('span', { className: 'thumb-label' }, [str(ds, Tag.ModalitiesInStudy), str(ds, Tag.StudyDescription)].filter(Boolean).join(' · ')),
    );
    let loaded = false;
    toggle.addEventListener('click', () => {
      const open = toggle.getAttribute('aria-expanded') !== 'true';
      toggle.setAttribute('aria-expanded', String(open));
      body.hidden = !open;
      if (!open || loaded) return;
      loaded = true;
      body.textContent = 'Loading…';
      searchSeries(studyUid, signal).then(
        (list) => {
          const infos = seriesFromQido(studyUid, list);
          events.onSeriesKnown(infos);
          body.replaceChildren(...infos.map((info) => seriesThumb(info, events)));
        },
        (err: Error) => {
          loaded = false;
          body.textContent = '';
          if (err.name !== 'AbortError') events.onError(`Could not list the series of the study of ${formatDate(str(ds, Tag.StudyDate))}: ${err.message}`);
        },
      );
    });
    section.append(toggle, body);
  }
  strip.append(section);
}
