// Preloaded into the operator (`node --import count-requests.js`) by the scale benchmark:
// counts every Kubernetes API request it sends, by verb and resource, through undici's
// diagnostics channel (client-node 2.x sends everything with undici). Costs a map update
// per request. On SIGUSR2 it writes the counts so far to $FIGWAY_BENCH_REQUEST_LOG, and,
// when $FIGWAY_BENCH_REQUEST_TRACE is set, every request with its start and response
// times (Unix ms, sub-ms precision) for the propagation benchmark's breakdown.
// Bench-only instrumentation: nothing in src/ knows about it.
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';

const counts: Record<string, number> = {};
let seq = 0;
const tracing = process.env.FIGWAY_BENCH_REQUEST_TRACE === '1';
/** [start, response headers (0: none yet), key, status] */
const trace: [number, number, string, number][] = [];
const started = new WeakMap<object, [number, number, string, number]>();
const now = () => performance.timeOrigin + performance.now();

interface UndiciRequest {
  method: string;
  path: string;
  headers: string | string[] | undefined;
}

/** "apply configmaps", "list+watch deployments", "patch apiroutes/status", … */
export function classify(method: string, path: string, headers: string): string {
  const [pathname = '', query = ''] = path.split('?');
  const parts = pathname.split('/').filter((p) => p !== '');
  // /api/v1/... or /apis/group/version/...
  let rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  // KubernetesObjectApi asks /api/v1 or /apis/<group>/<version> which resources exist.
  if (rest.length === 0) return `discovery ${pathname}`;
  if (rest[0] === 'namespaces' && rest.length > 2) rest = rest.slice(2);
  const [resource = '?', name, sub] = rest;
  const target = sub ? `${resource}/${sub}` : resource;
  switch (method) {
    case 'GET':
      if (name !== undefined) return `get ${target}`;
      return /(^|&)watch=(true|1)/.test(query) ? `watch ${target}` : `list ${target}`;
    case 'PATCH':
      return headers.includes('application/apply-patch') ? `apply ${target}` : `patch ${target}`;
    case 'POST':
      return `create ${target}`;
    case 'PUT':
      return `update ${target}`;
    case 'DELETE':
      return `delete ${target}`;
    default:
      return `${method.toLowerCase()} ${target}`;
  }
}

subscribe('undici:request:create', (message) => {
  const { request } = message as { request: UndiciRequest };
  const headers = Array.isArray(request.headers)
    ? request.headers.join('\n')
    : (request.headers ?? '');
  const key = classify(request.method, request.path, headers);
  counts[key] = (counts[key] ?? 0) + 1;
  if (tracing) {
    const entry: [number, number, string, number] = [now(), 0, `${key} ${request.path}`, 0];
    trace.push(entry);
    started.set(request, entry);
  }
});

if (tracing) {
  subscribe('undici:request:headers', (message) => {
    const { request, response } = message as { request: object; response: { statusCode: number } };
    const entry = started.get(request);
    if (entry) {
      entry[1] = now();
      entry[3] = response.statusCode;
    }
  });
}

const file = process.env.FIGWAY_BENCH_REQUEST_LOG;
if (file) {
  process.on('SIGUSR2', () => {
    seq += 1;
    writeFileSync(file, JSON.stringify({ seq, counts, ...(tracing && { trace }) }));
  });
}
