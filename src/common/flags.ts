// Command-line flag helpers shared by the figway commands.
import { isLogLevel, LOG_LEVELS, type LogLevel } from './log-level.js';

/** Parses a whole number flag within bounds; the message names the flag. */
export function intFlag(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!/^[0-9]+$/.test(value))
    throw new Error(`--${name} must be a whole number, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new Error(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Parses --log-level; undefined when the flag is absent. */
export function logLevelFlag(value: string | undefined): LogLevel | undefined {
  if (value === undefined || isLogLevel(value)) return value;
  throw new Error(
    `--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(value)}`,
  );
}
