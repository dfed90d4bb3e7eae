// What a failed Kubernetes API call says, for the operator, the CLI and the gateway's
// ConfigMap watch alike. client-node 2 throws ApiException with the HTTP status in `code`
// and the server's Status in `body`, and a message that dumps body and response headers;
// older clients and some transports use `statusCode`. A request that never got an answer
// is fetch's TypeError("fetch failed") with the socket error as its cause.

/** HTTP status of an API error (or of a watch ERROR event's Status), when it has one. */
export function apiStatusCode(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown } | null | undefined;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** An API error as logs and messages carry it: the server's status, reason and message. */
export interface ApiErrorFields {
  status?: number;
  /** The Status reason, e.g. NotFound, Forbidden, Conflict. */
  reason?: string;
  message: string;
}

function serverStatus(error: unknown): { message?: string; reason?: string } | string | undefined {
  let body: unknown = (error as { body?: unknown } | null | undefined)?.body;
  if (typeof body === 'string') {
    const text = body;
    try {
      body = JSON.parse(text);
    } catch {
      return text === '' ? undefined : text;
    }
  }
  return typeof body === 'object' && body !== null ? body : undefined;
}

/** The socket error under fetch's "fetch failed", e.g. "connect ECONNREFUSED 127.0.0.1:6443". */
function transportCause(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  // Socket errors have a string code (ECONNREFUSED); an API error's code is its HTTP status.
  if (typeof cause?.code !== 'string') return undefined;
  return typeof cause.message === 'string' && cause.message !== '' ? cause.message : cause.code;
}

/** True for an error that is an API server's answer (it has an HTTP status and a body). */
export function isApiError(error: unknown): boolean {
  return apiStatusCode(error) !== undefined && (error as { body?: unknown }).body !== undefined;
}

/** Status, reason and message of an API error; the first line of any other error. */
export function apiErrorFields(error: unknown): ApiErrorFields {
  const status = apiStatusCode(error);
  const server = serverStatus(error);
  const serverMessage =
    typeof server === 'string'
      ? server
      : typeof server?.message === 'string' && server.message !== ''
        ? server.message
        : undefined;
  const reason =
    typeof server === 'object' && typeof server.reason === 'string' ? server.reason : undefined;
  let message = serverMessage;
  if (message === undefined) {
    const text = error instanceof Error ? error.message : String(error);
    // ApiException's own message is "HTTP-Code: 404\nMessage: …\nBody: …\nHeaders: …".
    message =
      (text.startsWith('HTTP-Code:') ? /\nMessage: (.*)/.exec(text)?.[1] : undefined) ??
      text.split('\n')[0] ??
      text;
    const cause = transportCause(error);
    if (cause !== undefined && !message.includes(cause)) message = `${message}: ${cause}`;
  }
  return {
    ...(status !== undefined && { status }),
    ...(reason !== undefined && { reason }),
    message,
  };
}

/** A one-line description of an API error: the server's message, not the headers dump. */
export function describeApiError(error: unknown): string {
  const { status, reason, message } = apiErrorFields(error);
  if (status === undefined || message.includes(String(status))) return message;
  return `${message} (HTTP ${status}${reason === undefined ? '' : ` ${reason}`})`;
}
