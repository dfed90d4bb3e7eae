// Composition's decisions, as pure functions: what a part's answer is worth (a JSON value,
// or a failure with its reason), what headers a part carries upstream, and the client's
// answer once the parts are in (stages/compose.ts does the I/O).
import { FAILED_KEY, type CompiledCompose } from '../api/compose-schema.js';
import type { CaptureFailure } from './engine.js';
import type { Headers } from './transforms.js';

/** Why a part failed: a transport failure of its attempt, or an answer that is no JSON value. */
export type PartFailureReason =
  | CaptureFailure
  /** The answer was not 2xx. */
  | 'status'
  /** The answer was not JSON: another content-type, or a body that does not parse. */
  | 'not-json';

/** A part's result: the JSON text of its answer, or why it has none. */
export type PartResult =
  | { readonly ok: true; readonly json: string }
  | { readonly ok: false; readonly reason: PartFailureReason; readonly status?: number };

/** What a failure is in words, for the 502 message. */
function describeFailure(result: Extract<PartResult, { ok: false }>, timeoutMs: number): string {
  switch (result.reason) {
    case 'timeout':
      return `no whole answer within ${timeoutMs} ms`;
    case 'status':
      return `answered ${String(result.status)}`;
    case 'not-json':
      return 'answered something else than JSON';
    case 'too-large':
      return 'answered more than 1 MiB';
    default:
      return result.reason;
  }
}

/** application/json, or a structured +json type (application/problem+json), any parameters. */
export function isJsonMediaType(contentType: string | string[] | undefined): boolean {
  if (typeof contentType !== 'string') return false;
  const type = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/** What a part's whole answer is worth: its JSON text when it is 2xx JSON, else a failure. */
export function judgePartAnswer(status: number, headers: Headers, body: Buffer): PartResult {
  if (status < 200 || status > 299) return { ok: false, reason: 'status', status };
  if (!isJsonMediaType(headers['content-type'])) return { ok: false, reason: 'not-json' };
  // TextDecoder with fatal: invalid UTF-8 is not JSON (RFC 8259 §8.1), rather than U+FFFD.
  let text: string;
  try {
    text = UTF8.decode(body);
    JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not-json' };
  }
  return { ok: true, json: text.trim() };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Request headers a part does not carry: it has no body; the composed answer has no
 * validators or ranges of its own to meet; and the gateway must read the part's JSON as is.
 */
const NOT_FOR_PARTS = [
  'content-length',
  'transfer-encoding',
  'content-type',
  'expect',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'if-range',
  'range',
  'accept-encoding',
  'accept',
];

/** The headers of a part: the client request's upstream headers, fit for a JSON GET. */
export function partHeaders(upstream: Headers, host: string): Headers {
  const headers: Headers = { ...upstream };
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a fixed list of names
  for (const name of NOT_FOR_PARTS) delete headers[name];
  headers.accept = 'application/json';
  headers['accept-encoding'] = 'identity';
  headers.host = host;
  return headers;
}

/** The client's answer: 200 with the parts side by side, or 502 for a required part. */
export type ComposedAnswer =
  | { readonly status: 200; readonly body: string }
  | {
      readonly status: 502;
      readonly part: string;
      readonly reason: PartFailureReason;
      readonly message: string;
      readonly upstreamStatus?: number;
    };

/**
 * The required part that fails the answer, if `result` is one (the first to fail decides,
 * so the client need not wait for the others).
 */
export function requiredFailure(
  part: CompiledCompose['parts'][number],
  result: PartResult,
): ComposedAnswer | undefined {
  if (result.ok || part.optional) return undefined;
  return {
    status: 502,
    part: part.name,
    reason: result.reason,
    message: `part ${part.name} failed: ${describeFailure(result, part.timeoutMs)}`,
    ...(result.status !== undefined && { upstreamStatus: result.status }),
  };
}

/**
 * The composed answer once every part has a result: each part's JSON under its name (null
 * for a failed optional part), and, when any failed, `_failed` listing them in part order
 * with their reasons. The JSON texts are spliced in as they came: each parsed once already.
 */
export function assembleAnswer(
  compose: CompiledCompose,
  results: readonly PartResult[],
): ComposedAnswer {
  const members: string[] = [];
  const failed: { part: string; reason: PartFailureReason; status?: number }[] = [];
  for (let i = 0; i < compose.parts.length; i += 1) {
    const part = compose.parts[i] as CompiledCompose['parts'][number];
    const result = results[i] as PartResult;
    const refused = requiredFailure(part, result);
    if (refused !== undefined) return refused;
    members.push(`${JSON.stringify(part.name)}:${result.ok ? result.json : 'null'}`);
    if (!result.ok)
      failed.push({
        part: part.name,
        reason: result.reason,
        ...(result.status !== undefined && { status: result.status }),
      });
  }
  if (failed.length > 0) members.push(`${JSON.stringify(FAILED_KEY)}:${JSON.stringify(failed)}`);
  return { status: 200, body: `{${members.join(',')}}\n` };
}

/** The 502 body: the gateway's error fields, with the part and its reason. */
export function failureBody(
  answer: Extract<ComposedAnswer, { status: 502 }>,
  requestId: string,
  route: string,
): string {
  return `${JSON.stringify({
    error: answer.message,
    reason: 'compose-part-failed',
    part: answer.part,
    partReason: answer.reason,
    ...(answer.upstreamStatus !== undefined && { partStatus: answer.upstreamStatus }),
    requestId,
    route,
  })}\n`;
}
