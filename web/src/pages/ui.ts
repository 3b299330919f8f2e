/** Small pieces the pages share: form errors, busy buttons, number and date formats. */
import { seriesThumbnailUrl } from '../dicomweb';
import { h, openDialog } from '../dom';
import { reportError } from '../hooks';

/** An error line of a form: hidden while empty, announced when it shows. */
export function formError(testid: string): HTMLElement {
  return h('p', { className: 'form-error', role: 'alert', hidden: true, 'data-testid': testid });
}

export function showFormError(el: HTMLElement, message: string): void {
  el.textContent = message;
  el.hidden = !message;
  if (message) reportError(message);
}

/**
 * Run a form's action: its button is disabled meanwhile and a failure is shown in `error`.
 * Resolves to whether the action succeeded.
 */
export async function submitting(button: HTMLButtonElement, error: HTMLElement, action: () => Promise<void>): Promise<boolean> {
  button.disabled = true;
  showFormError(error, '');
  try {
    await action();
    return true;
  } catch (err) {
    if ((err as Error).name !== 'AbortError') showFormError(error, (err as Error).message);
    return false;
  } finally {
    button.disabled = false;
  }
}

/** Load, then draw; a failure shows in `error`. Resolves either way. */
export function loader(error: HTMLElement, load: () => Promise<void>): () => Promise<void> {
  return () => load().catch((err: Error) => {
    if (err.name !== 'AbortError') showFormError(error, err.message);
  });
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** An ISO 8601 time as local "YYYY-MM-DD HH:MM". */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (v: number) => String(v).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A value shown once (a new token or share link) with a button that copies it. */
export function secretValue(value: string, testid: string): HTMLElement {
  const input = h('input', { type: 'text', readonly: true, value, className: 'secret', 'data-testid': testid, 'aria-label': 'Value' });
  const copy = h('button', { type: 'button', 'data-testid': `${testid}-copy` }, 'Copy');
  copy.addEventListener('click', () => {
    input.select();
    navigator.clipboard?.writeText(value).then(
      () => (copy.textContent = 'Copied'),
      () => undefined, // the text stays selected for Ctrl+C
    );
  });
  // Selected as soon as it shows, ready for Ctrl+C.
  requestAnimationFrame(() => input.isConnected && input.select());
  return h('div', { className: 'secret-row' }, input, copy);
}

/** "3 series, 120 images" with singular forms. */
export function counts(series: number | undefined, images: number | undefined): string {
  const part = (n: number | undefined, one: string, many: string) => (n === undefined ? '' : `${n} ${n === 1 ? one : many}`);
  return [part(series, 'series', 'series'), part(images, 'image', 'images')].filter(Boolean).join(', ');
}

/** A table with a header row; `rows` are the <tr>s of the body. */
export function dataTable(testid: string, headers: string[], rows: HTMLTableRowElement[], empty = 'Nothing yet.'): HTMLTableElement {
  return h('table', { className: 'grid-table', 'data-testid': testid },
    h('thead', {}, h('tr', {}, ...headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, ...(rows.length ? rows : [h('tr', {}, h('td', { colspan: headers.length, className: 'muted' }, empty))])));
}

/** Ask before something that cannot be undone; resolves to the answer. */
export function confirmAction(question: string, yes: string): Promise<boolean> {
  return new Promise((resolve) => {
    let answer = false;
    const dialog = openDialog('Please confirm', 'confirm-dialog',
      h('p', {}, question),
      h('menu', {},
        h('button', { type: 'button', 'data-testid': 'confirm-no', onclick: () => dialog.close() }, 'Cancel'),
        h('button', { type: 'button', className: 'danger', 'data-testid': 'confirm-yes', onclick: () => { answer = true; dialog.close(); } }, yes)));
    dialog.addEventListener('close', () => resolve(answer));
  });
}

/**
 * A series thumbnail, or its label (the modality) when there is no image: a series
 * without pixels, or a thumbnail the server cannot render.
 */
export function thumbnail(studyUid: string, seriesUid: string | null, label: string, testid?: string): HTMLElement {
  const fallback = () => h('div', { className: 'thumb-fallback' }, label || '—');
  if (!seriesUid) return fallback();
  const img = h('img', { src: seriesThumbnailUrl(studyUid, seriesUid), alt: `${label} thumbnail`, loading: 'lazy', 'data-testid': testid });
  img.addEventListener('error', () => img.replaceWith(fallback()), { once: true });
  return img;
}
