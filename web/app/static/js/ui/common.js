// Small shared pieces of the UI: client-side routing, links, error text and
// time formatting.

import { html, useEffect, useReducer } from '../../vendor/htm-preact.js';

const routeListeners = new Set();

export function navigate(to, { replace = false } = {}) {
  history[replace ? 'replaceState' : 'pushState'](null, '', to);
  for (const fn of routeListeners) fn();
  if (!replace) document.getElementById('main')?.focus();
}

// useLocation re-renders on navigation and returns {path, query}.
export function useLocation() {
  const [, rerender] = useReducer((n) => n + 1, 0);
  useEffect(() => {
    routeListeners.add(rerender);
    addEventListener('popstate', rerender);
    return () => {
      routeListeners.delete(rerender);
      removeEventListener('popstate', rerender);
    };
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

export function Link({ href, children, ...rest }) {
  const onClick = (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  const current = location.pathname === href ? 'page' : undefined;
  return html`<a href=${href} onClick=${onClick} aria-current=${current} ...${rest}>${children}</a>`;
}

// ErrorText shows an error where it happened; role=alert makes screen readers
// say it at once.
export function ErrorText({ error }) {
  return error ? html`<p class="error" role="alert">${error.message || String(error)}</p>` : null;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function Time({ value }) {
  const d = new Date(value);
  if (!value || Number.isNaN(d.getTime())) return null;
  return html`<time datetime=${d.toISOString()}>${timeFormat.format(d)}</time>`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export function timeAgo(value) {
  const seconds = Math.round((new Date(value) - Date.now()) / 1000);
  if (Number.isNaN(seconds)) return '';
  const abs = Math.abs(seconds);
  if (abs < 60) return relative.format(seconds, 'second');
  if (abs < 3600) return relative.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return relative.format(Math.round(seconds / 3600), 'hour');
  return relative.format(Math.round(seconds / 86400), 'day');
}

// useAction wraps an async handler for a button or form: it tracks busy and
// error, so every control can show what went wrong next to it.
export function useAction(fn) {
  const [st, set] = useReducer((s, patch) => ({ ...s, ...patch }), { busy: false, error: null });
  const run = async (...args) => {
    set({ busy: true, error: null });
    try {
      await fn(...args);
      set({ busy: false });
    } catch (error) {
      set({ busy: false, error });
    }
  };
  return [run, st];
}
