/**
 * The server's JSON API: requests with the session cookie and, for changes, the CSRF
 * header (web/security.py); errors carry the server's message. A 401 means the session
 * is gone: the page goes to the login form, which comes back afterwards.
 */
import { DicomWebError } from './dicomweb';
import { currentHref, navigate } from './router';

const CSRF_HEADER = 'X-CSRF-Token';

/** A failed API request: HTTP status, the server's error code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface User {
  username: string;
  display_name: string;
  roles: string[];
  dicom_person_name: string;
  disabled: boolean;
  permissions: string[];
  created_at: string | null;
  last_login_at: string | null;
}

export interface Session {
  /** False when the server runs without access control: everything is allowed. */
  authEnabled: boolean;
  user: User | null;
}

let csrfToken = '';
let session: Promise<Session> | undefined;

/** Headers a state-changing request needs (also for XMLHttpRequest uploads). */
export function csrfHeaders(): Record<string, string> {
  return csrfToken ? { [CSRF_HEADER]: csrfToken } : {};
}

/** The logged-in user (GET /api/auth/me), asked again after resetSession(). */
export function getSession(): Promise<Session> {
  session ??= api<{ auth_enabled: boolean; user: User | null; csrf_token?: string }>('GET', '/api/auth/me').then(
    (me) => {
      csrfToken = me.csrf_token ?? '';
      return { authEnabled: me.auth_enabled, user: me.user };
    },
    (err: unknown) => {
      session = undefined;
      throw err;
    },
  );
  return session;
}

/** After login, logout or a page change: the next getSession() asks the server again. */
export function resetSession(csrf = ''): void {
  csrfToken = csrf;
  session = undefined;
}

/**
 * Whether the session may do something: every permission when access control is off,
 * none without a session.
 */
export function can(s: Session | null, permission: string): boolean {
  if (!s) return false;
  return !s.authEnabled || (s.user?.permissions.includes(permission) ?? false);
}

/** Go to the login form, coming back to the current page afterwards. */
export function goToLogin(): void {
  const here = currentHref();
  resetSession();
  if (!here.startsWith('/login')) navigate(`/login?next=${encodeURIComponent(here)}`, true);
}

/**
 * For DICOMweb failures (dicomweb.ts does not know about sessions): a 401 means the
 * session ended, so go to the login form. Returns whether it did.
 */
export function loginIfUnauthorized(err: unknown): boolean {
  if (!(err instanceof DicomWebError && err.status === 401)) return false;
  goToLogin();
  return true;
}

/** An error that pages ignore: the request was cut short because the page changed. */
function aborted(): DOMException {
  return new DOMException('The page changed.', 'AbortError');
}

export interface ApiOptions {
  signal?: AbortSignal;
  /** A 401 is the answer itself (wrong password at login), not a lost session. */
  keep401?: boolean;
}

/** A request with the session's credentials; a 401 goes to the login form. */
async function request(method: string, path: string, body: unknown, options: ApiOptions, accept: string): Promise<Response> {
  const headers: Record<string, string> = { Accept: accept };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') Object.assign(headers, csrfHeaders());
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal: options.signal,
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'network', `The server cannot be reached (${(err as Error).message}).`);
  }
  if (response.status === 401 && !options.keep401) {
    goToLogin();
    throw aborted();
  }
  if (!response.ok) {
    let data: unknown;
    try {
      data = JSON.parse(await response.text());
    } catch {
      data = undefined;
    }
    throw errorFrom(response.status, data, response.statusText, response.headers.get('Retry-After'));
  }
  return response;
}

/** A JSON request; resolves to the parsed answer, rejects with ApiError. */
export async function api<T>(method: string, path: string, body?: unknown, options: ApiOptions = {}): Promise<T> {
  const response = await request(method, path, body, options, 'application/json');
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A GET of a text resource (an SR rendered as text, a CDA document). */
export async function apiText(path: string, signal?: AbortSignal): Promise<string> {
  return (await request('GET', path, undefined, { signal }, 'text/plain, application/xml, */*')).text();
}

/** An ApiError from an error answer: {"error", "message"} (errors.py) or FastAPI's {"detail"}. */
export function errorFrom(status: number, data: unknown, fallback: string, retryAfter?: string | null): ApiError {
  const body = (data ?? {}) as Record<string, unknown>;
  let message = typeof body.message === 'string' ? body.message : '';
  if (!message && Array.isArray(body.detail)) {
    // Validation errors: [{loc: [..., "field"], msg}]
    message = body.detail
      .map((d: { loc?: unknown[]; msg?: string }) => `${String(d.loc?.[d.loc.length - 1] ?? '')}: ${d.msg ?? ''}`)
      .join('; ');
  } else if (!message && typeof body.detail === 'string') {
    message = body.detail;
  }
  const retry = Number(retryAfter);
  return new ApiError(
    status,
    typeof body.error === 'string' ? body.error : String(status),
    message || `HTTP ${status} ${fallback}`.trim(),
    Number.isFinite(retry) && retry > 0 ? retry : undefined,
  );
}
