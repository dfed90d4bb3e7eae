// Where a gateway's pods run, how its Service is exposed and how it scales: the fields
// spec.gateway shares with the chart-wide gateway defaults (`figway operator
// --gateway-defaults`, from the chart's `gateway:` values). Merge rule: a field an ApiRoute
// sets replaces the chart's value of that field whole (lists, maps and `service` alike, no
// deep merge), so what an ApiRoute says is exactly what its gateway gets.
//
// The standard Kubernetes shapes are checked as far as a user needs the field named
// (enums, required keys, combinations); the deep ones (affinity terms, label selectors,
// valueFrom) pass through to the API server, which validates them when the operator applies
// the pod template, and the CRD keeps them with x-kubernetes-preserve-unknown-fields.
import { z } from 'zod';
import { dnsSubdomain } from './fields.js';

/** Keeps an object's unknown fields in the CRD (a structural schema prunes them otherwise). */
const PRESERVE = { 'x-kubernetes-preserve-unknown-fields': true } as const;

/**
 * Labels the operator puts on every gateway pod: the Deployment selector (immutable), and
 * the labels PodMonitors, Services and pruning select by. podLabels may not override them.
 */
export const OPERATOR_POD_LABELS = [
  'app.kubernetes.io/name',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/component',
  'app.kubernetes.io/part-of',
  'app.kubernetes.io/managed-by',
  'figway.dev/apiroute',
] as const;

/** Environment variables the gateway's container gets from the operator. */
export const OPERATOR_ENV = ['NODE_OPTIONS'] as const;
/** Prefix of the variables the gateway itself reads (e.g. FIGWAY_REDIS_PASSWORD). */
export const OPERATOR_ENV_PREFIX = 'FIGWAY_';

const MAX_ENTRIES = 64;
const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const QUALIFIED_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function labelKeyError(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !QUALIFIED_PREFIX.test(prefix)))
    return `label key ${JSON.stringify(key)} has an invalid prefix: it must be a DNS-1123 subdomain such as example.com`;
  if (name === '' || name.length > 63 || !LABEL_NAME.test(name))
    return `label key ${JSON.stringify(key)} is invalid: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, after an optional prefix/`;
  return undefined;
}

const stringMap = (description: string) =>
  z
    .record(z.string(), z.string())
    .refine((map) => Object.keys(map).length <= MAX_ENTRIES, {
      error: `must have at most ${MAX_ENTRIES} entries`,
    })
    .meta({ description, maxProperties: MAX_ENTRIES });

const PodLabelsSchema = stringMap(
  `Labels added to the gateway pods (not to the Deployment selector). The operator's own labels (${OPERATOR_POD_LABELS.join(', ')}) cannot be overridden.`,
).superRefine((labels, ctx) => {
  for (const [key, value] of Object.entries(labels)) {
    const keyError = labelKeyError(key);
    if (keyError) ctx.addIssue({ code: 'custom', path: [key], message: keyError });
    else if ((OPERATOR_POD_LABELS as readonly string[]).includes(key))
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `is a label the operator sets on every gateway pod (its selector and monitors use it): choose another key`,
      });
    if (value.length > 63 || !LABEL_NAME.test(value))
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `label value ${JSON.stringify(value)} is invalid: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
      });
  }
});

export const TOLERATION_OPERATORS = ['Exists', 'Equal'] as const;
export const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

const TolerationSchema = z
  .strictObject({
    key: z
      .string()
      .max(316)
      .optional()
      .meta({ description: 'Taint key; empty with operator Exists: every taint.' }),
    operator: z
      .enum(TOLERATION_OPERATORS)
      .optional()
      .meta({ description: 'Exists or Equal (default Equal).' }),
    value: z.string().max(63).optional().meta({ description: 'Taint value, with Equal.' }),
    effect: z
      .enum(TAINT_EFFECTS)
      .optional()
      .meta({ description: 'NoSchedule, PreferNoSchedule or NoExecute; empty: all effects.' }),
    tolerationSeconds: z
      .int()
      .optional()
      .meta({ description: 'With NoExecute: how long the pod stays after the taint appears.' }),
  })
  .superRefine((t, ctx) => {
    if (t.operator === 'Exists' && t.value !== undefined && t.value !== '')
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: 'must be empty with operator Exists',
      });
    if ((t.key === undefined || t.key === '') && t.operator !== 'Exists')
      ctx.addIssue({
        code: 'custom',
        path: ['operator'],
        message: 'must be Exists when key is empty (a toleration of every taint)',
      });
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute')
      ctx.addIssue({
        code: 'custom',
        path: ['tolerationSeconds'],
        message: 'is only meaningful with effect NoExecute',
      });
  })
  .meta({
    description: 'A core/v1 Toleration.',
    'x-kubernetes-validations': [
      {
        rule: "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
        fieldPath: '.value',
        message: 'must be empty with operator Exists',
      },
      {
        rule: "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
        fieldPath: '.tolerationSeconds',
        message: 'is only meaningful with effect NoExecute',
      },
    ],
  });

const passthrough = (description: string) => z.looseObject({}).meta({ description, ...PRESERVE });

const AffinitySchema = z
  .strictObject({
    nodeAffinity: passthrough('A core/v1 NodeAffinity.').optional(),
    podAffinity: passthrough('A core/v1 PodAffinity.').optional(),
    podAntiAffinity: passthrough('A core/v1 PodAntiAffinity.').optional(),
  })
  .meta({ description: 'A core/v1 Affinity: nodeAffinity, podAffinity, podAntiAffinity.' });

export const WHEN_UNSATISFIABLE = ['DoNotSchedule', 'ScheduleAnyway'] as const;

const TopologySpreadConstraintSchema = z
  .looseObject({
    maxSkew: z.int().min(1).meta({ description: 'How unevenly pods may be spread (at least 1).' }),
    topologyKey: z
      .string()
      .min(1)
      .max(316)
      .meta({ description: 'Node label that defines a domain, e.g. topology.kubernetes.io/zone.' }),
    whenUnsatisfiable: z
      .enum(WHEN_UNSATISFIABLE)
      .meta({ description: 'DoNotSchedule or ScheduleAnyway.' }),
    labelSelector: passthrough(
      "A metav1.LabelSelector; default: this gateway's own pods.",
    ).optional(),
  })
  .meta({
    description:
      'A core/v1 TopologySpreadConstraint (other fields such as minDomains pass through).',
    ...PRESERVE,
  });

const EnvVarSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, {
        error: (i) =>
          `must be an environment variable name (letters, digits, '_', '-', '.'; not starting with a digit), got ${JSON.stringify(i.input)}`,
      })
      .refine((name) => !(OPERATOR_ENV as readonly string[]).includes(name), {
        error: (i) =>
          `${String(i.input)} is set by the operator (from the memory limit); it cannot be overridden`,
      })
      .refine((name) => !name.startsWith(OPERATOR_ENV_PREFIX), {
        error: `names starting with ${OPERATOR_ENV_PREFIX} are the gateway's own settings, set by the operator`,
      })
      .meta({ description: 'Variable name.' }),
    value: z.string().optional().meta({ description: 'Literal value.' }),
    valueFrom: passthrough(
      'A core/v1 EnvVarSource (secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef).',
    ).optional(),
  })
  .superRefine((env, ctx) => {
    if (env.value !== undefined && env.valueFrom !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['valueFrom'],
        message: 'set value or valueFrom, not both',
      });
  })
  .meta({
    description: 'A core/v1 EnvVar.',
    'x-kubernetes-validations': [
      {
        rule: '!(has(self.value) && has(self.valueFrom))',
        message: 'set value or valueFrom, not both',
      },
    ],
  });

export const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer'] as const;
export const EXTERNAL_TRAFFIC_POLICIES = ['Cluster', 'Local'] as const;

export const GatewayServiceSchema = z
  .strictObject({
    type: z
      .enum(SERVICE_TYPES)
      .optional()
      .meta({ description: 'ClusterIP (default), NodePort or LoadBalancer.' }),
    annotations: stringMap(
      'Annotations of the gateway Service, e.g. for a cloud load balancer.',
    ).optional(),
    loadBalancerClass: z
      .string()
      .min(1)
      .max(316)
      .optional()
      .meta({ description: 'Load balancer implementation (type LoadBalancer only).' }),
    externalTrafficPolicy: z.enum(EXTERNAL_TRAFFIC_POLICIES).optional().meta({
      description:
        'Cluster or Local (type LoadBalancer or NodePort only): Local keeps the client address.',
    }),
  })
  .superRefine((service, ctx) => {
    const type = service.type ?? 'ClusterIP';
    if (service.loadBalancerClass !== undefined && type !== 'LoadBalancer')
      ctx.addIssue({
        code: 'custom',
        path: ['loadBalancerClass'],
        message: `needs type LoadBalancer, got type ${type}`,
      });
    if (service.externalTrafficPolicy !== undefined && type === 'ClusterIP')
      ctx.addIssue({
        code: 'custom',
        path: ['externalTrafficPolicy'],
        message: 'needs type LoadBalancer or NodePort, got type ClusterIP',
      });
  })
  .meta({
    description: 'How the gateway Service is exposed. Replaces the chart default whole.',
    'x-kubernetes-validations': [
      {
        rule: "!has(self.loadBalancerClass) || (has(self.type) && self.type == 'LoadBalancer')",
        fieldPath: '.loadBalancerClass',
        message: 'needs type LoadBalancer',
      },
      {
        rule: "!has(self.externalTrafficPolicy) || (has(self.type) && self.type != 'ClusterIP')",
        fieldPath: '.externalTrafficPolicy',
        message: 'needs type LoadBalancer or NodePort',
      },
    ],
  });

const REPLACES = 'Replaces the chart default (gateway values) whole, lists and maps included.';

/** The fields spec.gateway and the chart's gateway defaults share; see the merge rule above. */
export const GATEWAY_POD_FIELDS = {
  nodeSelector: stringMap(`Node labels the gateway pods must run on. ${REPLACES}`).optional(),
  tolerations: z
    .array(TolerationSchema)
    .max(MAX_ENTRIES)
    .optional()
    .meta({ description: `Taints the gateway pods tolerate. ${REPLACES}` }),
  affinity: AffinitySchema.optional(),
  topologySpreadConstraints: z
    .array(TopologySpreadConstraintSchema)
    .max(16)
    .optional()
    .meta({
      description: `How the gateway pods spread over nodes and zones (default: at most one pod of skew per hostname and per zone, ScheduleAnyway). A constraint without labelSelector selects this gateway's pods. ${REPLACES}`,
    }),
  priorityClassName: dnsSubdomain('PriorityClass of the gateway pods.').optional(),
  podLabels: PodLabelsSchema.optional(),
  imagePullSecrets: z
    .array(z.strictObject({ name: dnsSubdomain('Secret name (kubernetes.io/dockerconfigjson).') }))
    .max(16)
    .optional()
    .meta({
      description: `Secrets the gateway pods pull their image with (default: the chart's imagePullSecrets). ${REPLACES}`,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    }),
  serviceAccount: z
    .strictObject({
      annotations: stringMap(
        'Annotations of the gateway ServiceAccount, e.g. a cloud IAM role.',
      ).optional(),
    })
    .optional()
    .meta({ description: `The gateway ServiceAccount. ${REPLACES}` }),
  service: GatewayServiceSchema.optional(),
  env: z
    .array(EnvVarSchema)
    .max(MAX_ENTRIES)
    .optional()
    .meta({
      description: `Extra environment variables of the gateway container. ${REPLACES}`,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    }),
};

/** The chart-wide defaults of the shared fields (`--gateway-defaults`, JSON). */
export const GatewayPodDefaultsSchema = z.strictObject(GATEWAY_POD_FIELDS);
export type GatewayPodDefaults = z.infer<typeof GatewayPodDefaultsSchema>;

export const MAX_GATEWAY_REPLICAS = 50;
export const DEFAULT_GATEWAY_REPLICAS = 2;

const replicaCount = (description: string) =>
  z
    .int()
    .min(1, {
      error: (i) => `must be between 1 and ${MAX_GATEWAY_REPLICAS}, got ${String(i.input)}`,
    })
    .max(MAX_GATEWAY_REPLICAS, {
      error: (i) => `must be between 1 and ${MAX_GATEWAY_REPLICAS}, got ${String(i.input)}`,
    })
    .meta({ description });

export const AutoscalingSchema = z
  .strictObject({
    minReplicas: replicaCount(
      'Fewest gateway pods; the PodDisruptionBudget is added when > 1.',
    ).default(DEFAULT_GATEWAY_REPLICAS),
    maxReplicas: replicaCount('Most gateway pods.'),
    targetCPUUtilizationPercentage: z
      .int()
      .min(1)
      .max(100)
      .default(80)
      .meta({ description: 'Average CPU use, in percent of the CPU request, the HPA aims at.' }),
  })
  .superRefine((a, ctx) => {
    if (a.minReplicas > a.maxReplicas)
      ctx.addIssue({
        code: 'custom',
        path: ['minReplicas'],
        message: `must not exceed maxReplicas (${String(a.maxReplicas)}), got ${String(a.minReplicas)}`,
      });
  })
  .meta({
    description:
      'A HorizontalPodAutoscaler (autoscaling/v2, CPU) for the gateway. The HPA then owns the replica count: leave replicas unset.',
    'x-kubernetes-validations': [
      {
        rule: '!has(self.minReplicas) || self.minReplicas <= self.maxReplicas',
        fieldPath: '.minReplicas',
        message: 'must not exceed maxReplicas',
      },
    ],
  });

/** CEL on spec.gateway: an HPA and a fixed replica count would fight over the Deployment. */
export const REPLICAS_OR_AUTOSCALING_RULE = {
  rule: '!(has(self.replicas) && has(self.autoscaling))',
  fieldPath: '.replicas',
  message: 'set replicas or autoscaling, not both: with autoscaling the HPA sets the replica count',
};

/** The cross-field checks of spec.gateway's replica count and autoscaling. */
export function refineGatewayScaling(
  gateway: {
    replicas?: number | undefined;
    autoscaling?: unknown;
    resources?: { requests?: { cpu?: string | undefined } | undefined } | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  if (gateway.autoscaling === undefined) return;
  if (gateway.replicas !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['replicas'],
      message: REPLICAS_OR_AUTOSCALING_RULE.message,
    });
  if (gateway.resources !== undefined && gateway.resources.requests?.cpu === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['resources', 'requests', 'cpu'],
      message:
        'is required with autoscaling: the HPA measures CPU use as a share of the CPU request',
    });
}
