// INTERIM (replaced by the request-head work on branch wt-head): request target and Host.
export type RequestTarget =
  | { kind: 'origin'; path: string; query: string }
  | { kind: 'asterisk' }
  | { kind: 'invalid'; reason: string };

export function parseRequestTarget(url: string): RequestTarget {
  if (url === '*') return { kind: 'asterisk' };
  const q = url.indexOf('?');
  return q === -1
    ? { kind: 'origin', path: url, query: '' }
    : { kind: 'origin', path: url.slice(0, q), query: url.slice(q + 1) };
}

export function normalizePath(
  path: string,
): { ok: true; path: string } | { ok: false; reason: string } {
  return { ok: true, path };
}

export function hostOf(
  rawHeaders: readonly string[],
): { ok: true; value: string } | { ok: false; reason: string } {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() === 'host')
      return { ok: true, value: rawHeaders[i + 1] as string };
  }
  return { ok: true, value: '' };
}
