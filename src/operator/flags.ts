// Command-line flags shared by `figway operator` and `figway render`: the operator settings
// that shape every gateway, parsed strictly so a typo fails loudly instead of defaulting.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_SETTINGS, type OperatorSettings } from './settings.js';

export const SETTINGS_OPTIONS = {
  image: { type: 'string' },
  'image-pull-policy': { type: 'string' },
  'drain-seconds': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;

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

export function settingsFromValues(values: {
  image?: string | undefined;
  'image-pull-policy'?: string | undefined;
  'drain-seconds'?: string | undefined;
}): OperatorSettings {
  const policy = values['image-pull-policy'] ?? DEFAULT_SETTINGS.imagePullPolicy;
  if (!(PULL_POLICIES as readonly string[]).includes(policy)) {
    throw new Error(
      `--image-pull-policy must be one of ${PULL_POLICIES.join(', ')}, got ${JSON.stringify(policy)}`,
    );
  }
  const image = values.image ?? DEFAULT_SETTINGS.image;
  if (image.trim() === '') throw new Error('--image must not be empty');
  return {
    ...DEFAULT_SETTINGS,
    image,
    imagePullPolicy: policy as OperatorSettings['imagePullPolicy'],
    drainSeconds: intFlag(
      'drain-seconds',
      values['drain-seconds'],
      DEFAULT_SETTINGS.drainSeconds,
      0,
      3600,
    ),
  };
}

/** Parses only the settings flags; everything else must be a positional argument. */
export function parseSettingsFlags(args: string[]): { settings: OperatorSettings; rest: string[] } {
  const { values, positionals } = parseArgs({
    args,
    options: SETTINGS_OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  return { settings: settingsFromValues(values), rest: positionals };
}
