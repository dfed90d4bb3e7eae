// The ApiRoute CustomResourceDefinition, generated from the zod schema so the two can
// never disagree. `npm run generate` writes it to crds/; a test fails when it drifts.
import { z } from 'zod';
import {
  ApiRouteSpecSchema,
  ApiRouteStatusSchema,
  GROUP,
  KIND,
  PLURAL,
  VERSION,
} from './schema.js';

type JsonSchema = Record<string, unknown>;

/** Bounds zod adds to every integer; they say nothing to a user and bloat the CRD. */
const SAFE_INTEGER_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

/**
 * Makes a zod-generated node fit a structural schema (Kubernetes CRD rules): no
 * `additionalProperties: false` beside properties, int-or-string without anyOf, and no
 * meaningless integer bounds.
 */
function toStructural(node: JsonSchema): void {
  if (node.additionalProperties === false) delete node.additionalProperties;
  // A pass-through object (zod looseObject) keeps unknown fields by the Kubernetes keyword.
  if (node['x-kubernetes-preserve-unknown-fields'] === true) delete node.additionalProperties;
  if (node['x-kubernetes-int-or-string'] === true) {
    delete node.anyOf;
    delete node.type;
  }
  if (SAFE_INTEGER_BOUNDS.has(node.minimum as number)) delete node.minimum;
  if (SAFE_INTEGER_BOUNDS.has(node.maximum as number)) delete node.maximum;
}

function openApi(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io: 'input',
    unrepresentable: 'throw',
    override: (ctx) => {
      toStructural(ctx.jsonSchema);
    },
  });
}

/** The openAPIV3Schema of ApiRoute v1alpha1. */
export function apiRouteOpenApiSchema(): JsonSchema {
  return {
    type: 'object',
    description:
      'ApiRoute gives one microservice its own API gateway and moves traffic from the legacy monolith to the new service path by path and percentage by percentage (the strangler-fig pattern).',
    properties: {
      apiVersion: {
        type: 'string',
        description: 'APIVersion defines the versioned schema of this object: figway.dev/v1alpha1.',
      },
      kind: { type: 'string', description: 'Kind is ApiRoute.' },
      metadata: { type: 'object' },
      spec: openApi(ApiRouteSpecSchema),
      status: openApi(ApiRouteStatusSchema),
    },
    required: ['spec'],
  };
}

/** The full CustomResourceDefinition object for ApiRoute. */
export function apiRouteCrd(): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${PLURAL}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'figway', 'app.kubernetes.io/part-of': 'figway' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: KIND.toLowerCase(),
        shortNames: ['ar'],
        categories: ['figway'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            {
              name: 'Routes',
              type: 'integer',
              description: 'Number of routes moving traffic off the monolith.',
              jsonPath: '.status.routeCount',
            },
            {
              name: 'Monolith',
              type: 'string',
              description: 'Where unmatched traffic goes.',
              jsonPath: '.status.monolith',
            },
            {
              name: 'New-Service-%',
              type: 'integer',
              description:
                'Configured share of traffic for the new services, averaged over routes.',
              jsonPath: '.status.newServicePercent',
            },
            {
              name: 'Ready',
              type: 'string',
              description: 'Whether the dedicated gateway serves the current route table.',
              jsonPath: '.status.conditions[?(@.type=="Ready")].status',
            },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema: apiRouteOpenApiSchema() },
        },
      ],
    },
  };
}
