// What a failed Kubernetes API call says, for the operator and the gateway's ConfigMap
// watch alike. client-node 2 throws ApiException with the HTTP status in `code` and the
// server's Status in `body`; older clients and some transports use `statusCode`.

/** HTTP status of an API error (or of a watch ERROR event's Status), when it has one. */
export function apiStatusCode(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown } | null | undefined;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** A one-line description of an API error: the server's message, not the headers dump. */
export function describeApiError(error: unknown): string {
  let body: unknown = (error as { body?: unknown } | null | undefined)?.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // Not JSON: use it as text below.
    }
  }
  const serverMessage =
    typeof body === 'object' &&
    body !== null &&
    typeof (body as { message?: unknown }).message === 'string'
      ? (body as { message: string }).message
      : typeof body === 'string' && body !== ''
        ? body
        : undefined;
  const code = apiStatusCode(error);
  if (serverMessage) return code ? `${serverMessage} (HTTP ${code})` : serverMessage;
  const message = error instanceof Error ? error.message : String(error);
  const first = message.split('\n')[0] ?? message;
  return code && !first.includes(String(code)) ? `${first} (HTTP ${code})` : first;
}
