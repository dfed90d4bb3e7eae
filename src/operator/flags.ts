// Command-line flags shared by `figway operator` and `figway render`: the operator settings
// that shape every gateway, parsed strictly so a typo fails loudly instead of defaulting.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  fieldErrors,
  formatErrors,
  GatewayPodDefaultsSchema,
  type CompiledAccessLog,
  type GatewayPodDefaults,
} from '../api/index.js';
import { intFlag } from '../common/flags.js';
import { DEFAULT_SETTINGS, type OperatorSettings } from './settings.js';

export const SETTINGS_OPTIONS = {
  image: { type: 'string' },
  'image-pull-policy': { type: 'string' },
  'drain-seconds': { type: 'string' },
  'gateway-access-log-sample-ratio': { type: 'string' },
  'gateway-access-log-errors': { type: 'string' },
  'gateway-defaults': { type: 'string' },
  'gateway-scrape-annotations': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;

export function settingsFromValues(values: {
  image?: string | undefined;
  'image-pull-policy'?: string | undefined;
  'drain-seconds'?: string | undefined;
  'gateway-access-log-sample-ratio'?: string | undefined;
  'gateway-access-log-errors'?: string | undefined;
  'gateway-defaults'?: string | undefined;
  'gateway-scrape-annotations'?: string | undefined;
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
    defaultAccessLog: accessLogFromFlags(
      values['gateway-access-log-sample-ratio'],
      values['gateway-access-log-errors'],
    ),
    image,
    imagePullPolicy: policy as OperatorSettings['imagePullPolicy'],
    gatewayPod: gatewayPodFromFlag(values['gateway-defaults']),
    scrapeAnnotations: booleanFlag(
      'gateway-scrape-annotations',
      values['gateway-scrape-annotations'],
      DEFAULT_SETTINGS.scrapeAnnotations,
    ),
    drainSeconds: intFlag(
      'drain-seconds',
      values['drain-seconds'],
      DEFAULT_SETTINGS.drainSeconds,
      0,
      3600,
    ),
  };
}

/**
 * The chart-wide access log default: off unless a sample ratio above 0 or error logging is
 * asked for. Query values stay redacted; an ApiRoute that needs them sets its own.
 */
function accessLogFromFlags(
  ratio: string | undefined,
  errors: string | undefined,
): CompiledAccessLog | undefined {
  const sampleRatio = ratio === undefined ? 0 : Number(ratio);
  if (ratio?.trim() === '' || !Number.isFinite(sampleRatio) || sampleRatio < 0 || sampleRatio > 1) {
    throw new Error(
      `--gateway-access-log-sample-ratio must be a number from 0 to 1, got ${JSON.stringify(ratio)}`,
    );
  }
  const alwaysLogErrors = booleanFlag('gateway-access-log-errors', errors, false);
  if (sampleRatio === 0 && !alwaysLogErrors) return undefined;
  return { sampleRatio, alwaysLogErrors, redactQuery: true };
}

function booleanFlag(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value !== 'true' && value !== 'false')
    throw new Error(`--${name} must be true or false, got ${JSON.stringify(value)}`);
  return value === 'true';
}

/** The chart's gateway defaults: JSON of the spec.gateway fields they share (gateway-pod-schema.ts). */
function gatewayPodFromFlag(json: string | undefined): GatewayPodDefaults {
  if (json === undefined) return DEFAULT_SETTINGS.gatewayPod;
  let input: unknown;
  try {
    input = JSON.parse(json);
  } catch (error) {
    throw new Error(`--gateway-defaults must be a JSON object: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const parsed = GatewayPodDefaultsSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    throw new Error(
      `--gateway-defaults (chart values gateway.*): ${formatErrors(fieldErrors(parsed.error), '; ')}`,
    );
  }
  return parsed.data;
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
