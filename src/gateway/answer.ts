// Answers the gateway writes itself: refusals, errors and stage answers, as a short JSON
// body that names the reason and the request id, so a client or a log reader can tell a
// gateway answer from an upstream one.
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import type { Answer } from './pipeline.js';
import type { Headers } from './transforms.js';

/** The JSON body of a gateway answer. */
export function answerBody(
  answer: Answer,
  requestId: string,
  route?: string,
  backend?: string,
): string {
  if (answer.status === 204 || answer.status === 304) return '';
  if (answer.body !== undefined) return answer.body;
  return `${JSON.stringify({
    error: answer.message,
    reason: answer.reason,
    requestId,
    ...(route !== undefined && { route }),
    ...(backend !== undefined && { backend }),
  })}\n`;
}

/** Writes a gateway answer; `extra` headers (backend, request id) go on top of the answer's. */
export function writeAnswer(
  res: ServerResponse,
  answer: Answer,
  body: string,
  extra: Headers,
): void {
  const headers: Headers = {
    ...answer.headers,
    ...(body !== '' && {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    }),
    'cache-control': 'no-store',
    ...extra,
  };
  res.writeHead(answer.status, headers);
  res.end(body);
}

/**
 * How long a connection whose last answer was written raw stays open for the client to read
 * it and close. Node's server sockets are half-open, and no server timeout watches a socket
 * the parser has let go of (after a parse error, a request timeout or an upgrade): a client
 * that never closes would otherwise hold it forever. Destroying at once instead would reset
 * the connection under a client still sending, which can discard the answer unread.
 */
const RAW_ANSWER_LINGER_MS = 1000;

function destroySocket(socket: Duplex): void {
  socket.destroy();
}

/** Writes a minimal answer on a raw socket (upgrades, malformed requests) and closes it. */
export function writeRawAnswer(socket: Duplex, status: number, body = ''): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const head =
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nconnection: close\r\n` +
    (body !== '' ? 'content-type: application/json\r\n' : '') +
    `content-length: ${Buffer.byteLength(body)}\r\n\r\n`;
  socket.end(head + body);
  setTimeout(destroySocket, RAW_ANSWER_LINGER_MS, socket).unref();
}
