// Structured JSON logs on stdout, one object per line, for every Figway component.
import winston from 'winston';
import { apiErrorFields, isApiError, type ApiErrorFields } from './api-error.js';
import type { LogLevel } from './log-level.js';

export type { LogLevel } from './log-level.js';
export type Logger = winston.Logger;

export interface LoggerOptions {
  /** Added to every line as `component`, e.g. gateway or operator. */
  component: string;
  level?: LogLevel;
  /** Extra fields on every line, e.g. the ApiRoute a gateway serves. */
  defaultMeta?: Record<string, unknown>;
  /** Where lines go; stdout unless a test wants them. */
  stream?: NodeJS.WritableStream;
  /** No output at all (tests, benchmarks). */
  silent?: boolean;
}

/**
 * A winston logger writing JSON lines with a timestamp. winston filters levels late
 * (after building the info object), so hot paths must guard debug calls with
 * `logger.isDebugEnabled()`.
 */
export function createLogger(options: LoggerOptions): Logger {
  return winston.createLogger({
    level: options.level ?? 'info',
    silent: options.silent ?? false,
    defaultMeta: { component: options.component, ...options.defaultMeta },
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.errors({ stack: false }),
      winston.format.json(),
    ),
    // winston's typings declare the Stream transport as an instance type with a construct
    // signature, which this rule cannot follow; it is a real TransportStream subclass.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    transports: [new winston.transports.Stream({ stream: options.stream ?? process.stdout })],
  });
}

/**
 * The fields of an error worth logging: message, code and the chain of causes. An API
 * server's answer anywhere in the chain is logged as its status, reason and message
 * (api-error.ts), never as client-node's message with the body and headers dumped.
 */
export function errorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { error: String(error) };
  if (isApiError(error)) return apiFields(apiErrorFields(error));
  const fields: Record<string, unknown> = { error: error.message };
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined) fields.code = code;
  const causes: string[] = [];
  let cause: unknown = error.cause;
  while (cause instanceof Error && causes.length < 5) {
    if (isApiError(cause)) {
      const api = apiErrorFields(cause);
      if (!error.message.includes(api.message)) causes.push(api.message);
      Object.assign(fields, apiFields(api), { error: error.message });
      break;
    }
    // A wrapper's message often repeats its cause's (`context: cause`): say it once.
    if (!error.message.includes(cause.message)) causes.push(cause.message);
    cause = cause.cause;
  }
  if (causes.length > 0) fields.cause = causes.join(': ');
  return fields;
}

function apiFields(api: ApiErrorFields): Record<string, unknown> {
  return {
    error: api.message,
    ...(api.status !== undefined && { status: api.status }),
    ...(api.reason !== undefined && { reason: api.reason }),
  };
}
