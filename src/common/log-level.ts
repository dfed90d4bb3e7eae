// The log levels of every Figway component, fewest lines first: the logger, the --log-level
// flags and the ApiRoute's spec.gateway.logLevel all take exactly these. No imports, so the
// ApiRoute schema can use the list without loading the logger.
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}
