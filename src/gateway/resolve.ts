// Local runs have no cluster DNS: `--resolve name=http://127.0.0.1:3001` points the
// backends compiled from Service `name` (the monolith's included) at a local URL.
import type { CompiledBackend, RouteTable } from '../api/index.js';

/** Parses repeated `--resolve service=url` flags; throws naming the bad flag. */
export function parseResolveFlags(values: readonly string[]): Map<string, string> {
  const overrides = new Map<string, string>();
  for (const value of values) {
    const eq = value.indexOf('=');
    const name = eq > 0 ? value.slice(0, eq) : '';
    const url = eq > 0 ? value.slice(eq + 1) : '';
    if (name === '' || url === '') {
      throw new Error(
        `--resolve ${JSON.stringify(value)}: expected service=url, e.g. orders=http://127.0.0.1:3001`,
      );
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`--resolve ${JSON.stringify(value)}: ${JSON.stringify(url)} is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new Error(`--resolve ${JSON.stringify(value)}: the URL must be http:// or https://`);
    }
    if (overrides.has(name))
      throw new Error(`--resolve: service ${JSON.stringify(name)} given twice`);
    overrides.set(name, url.endsWith('/') ? url.slice(0, -1) : url);
  }
  return overrides;
}

/** The table with overridden Service backends pointing at their local URLs. Pure. */
export function applyServiceOverrides(
  table: RouteTable,
  overrides: ReadonlyMap<string, string>,
): RouteTable {
  if (overrides.size === 0) return table;
  const fix = (b: CompiledBackend): CompiledBackend => {
    const url = b.service !== undefined ? overrides.get(b.service) : undefined;
    return url === undefined ? b : { ...b, url };
  };
  return {
    ...table,
    monolith: fix(table.monolith),
    routes: table.routes.map((r) => ({ ...r, backends: r.backends.map(fix) })),
  };
}
