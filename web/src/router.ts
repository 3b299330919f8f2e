/**
 * History-API routing. The first path segment names the page ("/admin/audit" is the
 * admin page); unknown paths show the study list. The server answers every non-API path
 * with index.html; "#/viewer?study=UID" works too, for hosts that cannot do that fallback.
 */

export type RouteName = 'login' | 'studies' | 'patient' | 'study' | 'upload' | 'admin' | 'viewer' | 'share';

/** First path segment → page. A new page adds its row here and its renderer in main.ts. */
const PAGES: Record<string, RouteName> = {
  '': 'studies',
  login: 'login',
  patient: 'patient',
  study: 'study',
  upload: 'upload',
  admin: 'admin',
  viewer: 'viewer',
  // A share link's page, /s/<token> (the URL POST /api/shares answers with).
  s: 'share',
};

export interface Route {
  name: RouteName;
  /** The path segments after the first ("/admin/audit" → ["audit"]). */
  rest: string[];
  params: URLSearchParams;
}

type Listener = (route: Route) => void;
let listener: Listener | undefined;

export function currentRoute(): Route {
  const hash = location.hash.startsWith('#/') ? location.hash.slice(1) : '';
  const url = new URL(hash || `${location.pathname}${location.search}`, location.origin);
  const [first = '', ...rest] = url.pathname.split('/').filter(Boolean);
  return { name: PAGES[first] ?? 'studies', rest, params: url.searchParams };
}

/** The current page's path and query, e.g. for coming back after login. */
export function currentHref(): string {
  return location.hash.startsWith('#/') ? location.hash.slice(1) : `${location.pathname}${location.search}`;
}

export function navigate(href: string, replace = false): void {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  listener?.(currentRoute());
}

export function startRouter(onRoute: Listener): void {
  listener = onRoute;
  window.addEventListener('popstate', () => onRoute(currentRoute()));
  window.addEventListener('hashchange', () => onRoute(currentRoute()));
  // Same-origin links marked data-link navigate without a page load.
  document.addEventListener('click', (event) => {
    const a = (event.target as Element | null)?.closest?.('a[data-link]') as HTMLAnchorElement | null;
    if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(a.getAttribute('href') ?? '/');
  });
  onRoute(currentRoute());
}
