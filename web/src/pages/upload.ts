/**
 * Upload from the browser: files, folders (dropped or picked) and zip archives go to
 * POST /api/upload in batches, with one progress bar for the whole upload and a result
 * list of what was stored and what was rejected, and why.
 */
import { ApiError, csrfHeaders, errorFrom, goToLogin } from '../api';
import { clear, field, h } from '../dom';
import { reportError } from '../hooks';
import { studyHref } from './links';
import { formatBytes } from './ui';

/** One request carries at most this many files or bytes (a larger file goes alone). */
const BATCH_FILES = 20;
const BATCH_BYTES = 32 * 1024 * 1024;

interface NamedFile {
  file: File;
  /** The path inside the dropped or picked folder, or the file name. */
  name: string;
}

interface StoredItem {
  name: string;
  sop_instance_uid: string;
  study_instance_uid: string;
  kind: 'dicom' | 'pdf' | 'photo';
}

interface RejectedItem {
  name: string;
  reason: string;
}

interface UploadAnswer {
  stored: StoredItem[];
  rejected: RejectedItem[];
}

export interface UploadOptions {
  /** The study documents and photos are attached to (asked when the upload starts). */
  studyUid?: () => string;
  /** Called after each finished upload (also when some files were rejected). */
  onDone?: (answer: UploadAnswer) => void;
}

/** Split files into requests of at most BATCH_FILES files and BATCH_BYTES bytes. */
function batches(files: NamedFile[]): NamedFile[][] {
  const out: NamedFile[][] = [];
  let current: NamedFile[] = [];
  let bytes = 0;
  for (const f of files) {
    if (current.length && (current.length >= BATCH_FILES || bytes + f.file.size > BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(f);
    bytes += f.file.size;
  }
  if (current.length) out.push(current);
  return out;
}

/** Every file of a drop, walking into dropped folders (File and Directory Entries API). */
async function droppedFiles(transfer: DataTransfer): Promise<NamedFile[]> {
  // The entries must be taken while the drop event runs; the DataTransfer empties after.
  const entries = [...transfer.items]
    .filter((item) => item.kind === 'file')
    .map((item) => item.webkitGetAsEntry?.())
    .filter((entry): entry is FileSystemEntry => !!entry);
  if (!entries.length) return [...transfer.files].map((file) => ({ file, name: file.name }));
  const out: NamedFile[] = [];
  for (const entry of entries) await walk(entry, out);
  return out;
}

async function walk(entry: FileSystemEntry, out: NamedFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ file, name: entry.fullPath.replace(/^\//, '') || file.name });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    // readEntries answers in chunks (about 100 entries); an empty chunk ends the folder.
    for (;;) {
      const chunk = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (!chunk.length) break;
      for (const child of chunk) await walk(child, out);
    }
  }
}

function picked(input: HTMLInputElement): NamedFile[] {
  return [...(input.files ?? [])].map((file) => ({ file, name: file.webkitRelativePath || file.name }));
}

/** One batch as multipart/form-data; `onProgress` gets the bytes of this batch sent so far. */
function sendBatch(batch: NamedFile[], studyUid: string, title: string, onProgress: (sent: number) => void,
  onStart: (xhr: XMLHttpRequest) => void): Promise<UploadAnswer> {
  const form = new FormData();
  // The study comes before the files so the server knows it when the first file arrives.
  if (studyUid) form.append('study_instance_uid', studyUid);
  if (title) form.append('title', title);
  for (const f of batch) form.append('files', f.file, f.name);
  const size = batch.reduce((n, f) => n + f.file.size, 0);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/upload');
    xhr.setRequestHeader('Accept', 'application/json');
    for (const [name, value] of Object.entries(csrfHeaders())) xhr.setRequestHeader(name, value);
    // The request also carries the multipart framing: scale to the files' own bytes.
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total) onProgress((event.loaded / event.total) * size);
    };
    xhr.onload = () => {
      let data: unknown;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = undefined;
      }
      if (xhr.status === 401) {
        goToLogin();
        reject(new DOMException('The page changed.', 'AbortError'));
      } else if (xhr.status >= 200 && xhr.status < 300 && data) {
        resolve(data as UploadAnswer);
      } else {
        reject(errorFrom(xhr.status, data, xhr.statusText));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'The upload was cut off (network error).'));
    xhr.onabort = () => reject(new DOMException('Upload cancelled.', 'AbortError'));
    onStart(xhr);
    xhr.send(form);
  });
}

/** The upload component: drop zone, file and folder pickers, progress and result. */
export function uploadPanel(options: UploadOptions = {}): HTMLElement {
  const filesInput = h('input', { type: 'file', multiple: true, className: 'visually-hidden', tabindex: -1, 'data-testid': 'upload-files' });
  const folderInput = h('input', { type: 'file', multiple: true, webkitdirectory: true, className: 'visually-hidden', tabindex: -1, 'data-testid': 'upload-folder' });
  const chooseFiles = h('button', { type: 'button', 'data-testid': 'upload-choose-files', onclick: () => filesInput.click() }, 'Choose files…');
  const chooseFolder = h('button', { type: 'button', 'data-testid': 'upload-choose-folder', onclick: () => folderInput.click() }, 'Choose a folder…');
  const drop = h('div', { className: 'dropzone', 'data-testid': 'upload-dropzone' },
    h('p', {}, 'Drop DICOM files, folders or zip archives here', options.studyUid ? ', or PDFs and photos to attach to the study' : '', '.'),
    h('div', { className: 'actions' }, chooseFiles, chooseFolder), filesInput, folderInput);
  const title = h('input', { type: 'text', maxlength: 64, placeholder: 'e.g. Referral letter', 'data-testid': 'upload-title' });
  const progress = h('progress', { max: 1, value: 0, hidden: true, 'data-testid': 'upload-progress' });
  const status = h('div', { className: 'status', 'aria-live': 'polite', 'data-testid': 'upload-status' });
  const cancel = h('button', { type: 'button', hidden: true, 'data-testid': 'upload-cancel' }, 'Cancel');
  const result = h('div', { className: 'upload-result', 'data-testid': 'upload-result' });
  const panel = h('section', { className: 'upload', 'data-testid': 'upload', 'data-state': 'idle' },
    drop, options.studyUid ? field('Title of uploaded documents (optional)', title) : null,
    h('div', { className: 'progress-row' }, progress, cancel), status, result);

  let running = false;
  let current: XMLHttpRequest | undefined;
  let cancelled = false;
  cancel.addEventListener('click', () => {
    cancelled = true;
    current?.abort();
  });

  const start = async (files: NamedFile[]): Promise<void> => {
    if (running || !files.length) return;
    running = true;
    cancelled = false;
    panel.dataset.state = 'uploading';
    chooseFiles.disabled = chooseFolder.disabled = true;
    cancel.hidden = false;
    clear(result);
    const total = files.reduce((n, f) => n + f.file.size, 0);
    progress.max = Math.max(total, 1);
    progress.value = 0;
    progress.hidden = false;
    const studyUid = options.studyUid?.() ?? '';
    const answer: UploadAnswer = { stored: [], rejected: [] };
    let done = 0;
    let sentFiles = 0;
    const say = (sentBytes: number) => {
      progress.value = done + sentBytes;
      status.textContent = `Uploading ${files.length} file${files.length === 1 ? '' : 's'}: ${formatBytes(done + sentBytes)} of ${formatBytes(total)}…`;
    };
    let failure = '';
    for (const batch of batches(files)) {
      if (cancelled) break;
      say(0);
      try {
        const part = await sendBatch(batch, studyUid, title.value.trim(), say, (xhr) => (current = xhr));
        answer.stored.push(...part.stored);
        answer.rejected.push(...part.rejected);
      } catch (err) {
        if ((err as Error).name === 'AbortError') {
          if (!cancelled) return; // gone to the login page
          break;
        }
        // The whole request failed (too large, no permission, server error): its files are
        // listed as rejected with the server's reason, and the remaining batches still go.
        for (const f of batch) answer.rejected.push({ name: f.name, reason: (err as Error).message });
        if (err instanceof ApiError && (err.status === 403 || err.status === 0)) {
          failure = err.message;
          break;
        }
      }
      done += batch.reduce((n, f) => n + f.file.size, 0);
      sentFiles += batch.length;
    }
    current = undefined;
    running = false;
    chooseFiles.disabled = chooseFolder.disabled = false;
    cancel.hidden = true;
    progress.value = done;
    filesInput.value = '';
    folderInput.value = '';
    panel.dataset.state = cancelled ? 'cancelled' : failure ? 'failed' : 'done';
    const summary = `${answer.stored.length} stored, ${answer.rejected.length} rejected.`;
    status.textContent = cancelled ? `Cancelled after ${sentFiles} of ${files.length} files: ${summary}`
      : failure ? `Stopped after ${sentFiles} of ${files.length} files: ${summary}`
        : `Done: ${summary}`;
    if (failure) reportError(failure);
    showResult(result, answer);
    options.onDone?.(answer);
  };

  filesInput.addEventListener('change', () => void start(picked(filesInput)));
  folderInput.addEventListener('change', () => void start(picked(folderInput)));
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy';
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    if (!event.dataTransfer || running) return;
    droppedFiles(event.dataTransfer).then(start, (err: Error) => {
      const message = `The dropped files could not be read: ${err.message}`;
      reportError(message);
      status.textContent = message;
    });
  });
  return panel;
}

function showResult(root: HTMLElement, answer: UploadAnswer): void {
  const studies = [...new Set(answer.stored.map((s) => s.study_instance_uid))];
  root.append(h('p', {}, h('strong', { 'data-testid': 'upload-stored-count' }, String(answer.stored.length)), ' stored',
    studies.length ? ` in ${studies.length} ${studies.length === 1 ? 'study' : 'studies'}: ` : '.'));
  if (studies.length) {
    root.append(h('ul', { className: 'upload-studies' },
      ...studies.map((uid) => h('li', {}, h('a', { href: studyHref(uid), 'data-link': true, 'data-testid': 'upload-study-link', 'data-study-uid': uid }, uid)))));
  }
  if (answer.rejected.length) {
    root.append(h('table', { className: 'grid-table', 'data-testid': 'upload-rejected-table' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Rejected file'), h('th', { scope: 'col' }, 'Reason'))),
      h('tbody', {}, ...answer.rejected.map((r) =>
        h('tr', { 'data-testid': 'upload-rejected' }, h('td', { 'data-testid': 'upload-rejected-name' }, r.name), h('td', { 'data-testid': 'upload-rejected-reason' }, r.reason))))));
  }
}

/** The upload page (/upload, optionally ?study=UID to attach documents to a study). */
export function renderUpload(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const study = h('input', { type: 'text', value: params.get('study') ?? '', pattern: '[0-9.]{1,64}', placeholder: 'optional', 'data-testid': 'upload-study-uid' });
  root.append(h('section', { className: 'page upload-page', 'data-testid': 'upload-page' },
    h('h1', {}, 'Upload'),
    h('p', { className: 'muted' }, 'DICOM files, folders and zip archives are stored as they are. PDFs and photos need a study to attach to.'),
    field('Attach documents to study (Study Instance UID)', study),
    uploadPanel({ studyUid: () => study.value.trim() })));
  return Promise.resolve();
}
