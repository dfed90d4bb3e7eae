// Structured JSON logs on stdout, one object per line, for every Figway component.
import winston from 'winston';
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

/** The fields of an error worth logging: message, code and the chain of causes. */
export function errorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { error: String(error) };
  const fields: Record<string, unknown> = { error: error.message };
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined) fields.code = code;
  const causes: string[] = [];
  let cause: unknown = error.cause;
  while (cause instanceof Error && causes.length < 5) {
    causes.push(cause.message);
    cause = cause.cause;
  }
  if (causes.length > 0) fields.cause = causes.join(': ');
  return fields;
}
