/**
 * History-API routing for two pages: "/" (study list) and "/viewer?study=UID".
 * The server answers every non-API path with index.html; "#/viewer?study=UID" works
 * too, for hosts that cannot do that fallback.
 */

export interface Route {
  name: 'studies' | 'viewer';
  params: URLSearchParams;
}

type Listener = (route: Route) => void;
let listener: Listener | undefined;

export function currentRoute(): Route {
  const hash = location.hash.startsWith('#/') ? location.hash.slice(1) : '';
  const url = new URL(hash || `${location.pathname}${location.search}`, location.origin);
  const name = url.pathname.replace(/\/+$/, '').endsWith('/viewer') ? 'viewer' : 'studies';
  return { name, params: url.searchParams };
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
