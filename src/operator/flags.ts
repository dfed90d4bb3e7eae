// Command-line flags shared by `figway operator` and `figway render`: the operator settings
// that shape every gateway, parsed strictly so a typo fails loudly instead of defaulting.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { intFlag } from '../common/flags.js';
import { DEFAULT_SETTINGS, type OperatorSettings } from './settings.js';

export const SETTINGS_OPTIONS = {
  image: { type: 'string' },
  'image-pull-policy': { type: 'string' },
  'drain-seconds': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;

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
