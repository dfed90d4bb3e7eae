// Command-line flags shared by `figway operator` and `figway render`: the operator settings
// that shape every gateway, parsed strictly so a typo fails loudly instead of defaulting.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  fieldErrors,
  formatErrors,
  GatewayPodDefaultsSchema,
  TracingSchema,
  type CompiledAccessLog,
  type GatewayPodDefaults,
  type TracingDefaults,
} from '../api/index.js';
import { intFlag } from '../common/flags.js';
import { redisUrlProblem } from '../common/redis-url.js';
import { DEFAULT_SETTINGS, type GatewayRedis, type OperatorSettings } from './settings.js';

export const SETTINGS_OPTIONS = {
  image: { type: 'string' },
  'image-pull-policy': { type: 'string' },
  'drain-seconds': { type: 'string' },
  'gateway-access-log-sample-ratio': { type: 'string' },
  'gateway-access-log-errors': { type: 'string' },
  'gateway-redis-url': { type: 'string' },
  'gateway-redis-password-secret': { type: 'string' },
  'gateway-redis-password-key': { type: 'string' },
  'gateway-tracing-endpoint': { type: 'string' },
  'gateway-tracing-sampling-ratio': { type: 'string' },
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
  'gateway-redis-url'?: string | undefined;
  'gateway-redis-password-secret'?: string | undefined;
  'gateway-redis-password-key'?: string | undefined;
  'gateway-tracing-endpoint'?: string | undefined;
  'gateway-tracing-sampling-ratio'?: string | undefined;
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
    redis: redisFromFlags(
      values['gateway-redis-url'],
      values['gateway-redis-password-secret'],
      values['gateway-redis-password-key'],
    ),
    defaultTracing: tracingFromFlags(
      values['gateway-tracing-endpoint'],
      values['gateway-tracing-sampling-ratio'],
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

/** A Secret name or data key, as Kubernetes accepts them. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

/** The gateways' Redis (the chart's gateway.redis): none unless a URL is given. */
function redisFromFlags(
  url: string | undefined,
  secret: string | undefined,
  key: string | undefined,
): GatewayRedis | undefined {
  if (url === undefined || url === '') {
    if (secret !== undefined && secret !== '') {
      throw new Error('--gateway-redis-password-secret needs --gateway-redis-url');
    }
    return undefined;
  }
  const problem = redisUrlProblem('--gateway-redis-url', url);
  if (problem !== undefined) throw new Error(problem);
  if (secret === undefined || secret === '') return { url };
  if (secret.length > 253 || !DNS_SUBDOMAIN.test(secret)) {
    throw new Error(
      `--gateway-redis-password-secret must be a Secret name (lowercase DNS subdomain), got ${JSON.stringify(secret)}`,
    );
  }
  const dataKey = key ?? 'password';
  if (dataKey.length > 253 || !SECRET_KEY.test(dataKey)) {
    throw new Error(
      `--gateway-redis-password-key must be a Secret data key (letters, digits, '-', '_', '.'), got ${JSON.stringify(dataKey)}`,
    );
  }
  return { url, passwordSecret: { name: secret, key: dataKey } };
}

/**
 * The chart-wide tracing defaults, checked by the ApiRoute schema's own rules so a flag and
 * a field refuse the same values. An empty endpoint (the chart's default) means none.
 */
function tracingFromFlags(
  endpoint: string | undefined,
  ratio: string | undefined,
): TracingDefaults | undefined {
  const samplingRatio = ratio === undefined || ratio.trim() === '' ? undefined : Number(ratio);
  const parsed = TracingSchema.safeParse({
    ...(endpoint !== undefined && endpoint !== '' && { endpoint }),
    ...(samplingRatio !== undefined && { samplingRatio }),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = issue?.path[0] === 'endpoint' ? 'endpoint' : 'sampling-ratio';
    const given = flag === 'endpoint' ? endpoint : ratio;
    throw new Error(
      `--gateway-tracing-${flag} ${issue?.message ?? 'is invalid'} (got ${JSON.stringify(given)})`,
    );
  }
  const { endpoint: url, samplingRatio: share } = parsed.data;
  if (url === undefined && share === undefined) return undefined;
  return {
    ...(url !== undefined && { endpoint: url }),
    ...(share !== undefined && { samplingRatio: share }),
  };
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
