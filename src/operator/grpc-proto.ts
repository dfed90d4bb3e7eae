// The protos of an ApiRoute's gRPC routes (spec.routes[].grpc.proto): read from the named
// ConfigMaps in the ApiRoute's namespace at reconcile time, compiled and checked against
// each route's method (api/grpc-descriptor.ts), and handed to the route table, so the
// gateway never reads a ConfigMap of the user's. A ConfigMap's change re-reconciles the
// ApiRoutes that name it (controller.ts watches ConfigMaps, data dropped from its cache).
import type { KubernetesObject } from '@kubernetes/client-node';
import {
  compileGrpcDescriptor,
  pathParameterNames,
  type ApiRoute,
  type GrpcDescriptor,
  type ProtoFailureReason,
  type ProtoSource,
} from '../api/index.js';

/**
 * Most bytes the descriptors of one ApiRoute may take in its route table (their JSON).
 * The table lives in a ConfigMap, and a ConfigMap holds at most 1 MiB: this leaves the
 * rest of the table room.
 */
export const MAX_DESCRIPTOR_BYTES = 512 * 1024;

export type ProtoProblem = ProtoFailureReason | 'ProtoNotFound' | 'ProtoTooLarge';

export interface ProtoFailure {
  readonly route: string;
  readonly reason: ProtoProblem;
  readonly message: string;
}

export type ProtoCheck =
  | { readonly ok: true; readonly descriptors: ReadonlyMap<string, GrpcDescriptor> }
  | { readonly ok: false; readonly failures: readonly ProtoFailure[] };

/** The ConfigMap data the check reads: text keys and base64 binary keys. */
export interface ProtoConfigMap {
  readonly data?: Readonly<Record<string, string>> | undefined;
  readonly binaryData?: Readonly<Record<string, string>> | undefined;
}

/** The ConfigMaps an ApiRoute's gRPC routes name, sorted, without duplicates. */
export function protoConfigMapNames(apiRoute: ApiRoute): string[] {
  const names = new Set<string>();
  for (const route of apiRoute.spec.routes) {
    if (route.grpc !== undefined) names.add(route.grpc.proto.configMap);
  }
  return [...names].sort();
}

/**
 * Whether an ApiRoute as the API server has it (spec unvalidated) names the ConfigMap:
 * the informer handler's question, asked of every cached ApiRoute in the namespace.
 */
export function namesProtoConfigMap(spec: unknown, configMap: string): boolean {
  const routes = (spec as { routes?: unknown } | undefined)?.routes;
  if (!Array.isArray(routes)) return false;
  return routes.some(
    (route) =>
      (route as { grpc?: { proto?: { configMap?: unknown } } } | null)?.grpc?.proto?.configMap ===
      configMap,
  );
}

function sourceOf(configMap: ProtoConfigMap, key: string): ProtoSource | undefined {
  const text = configMap.data?.[key];
  if (text !== undefined) return { kind: 'proto', text };
  const binary = configMap.binaryData?.[key];
  if (binary !== undefined) return { kind: 'descriptorSet', bytes: Buffer.from(binary, 'base64') };
  return undefined;
}

/**
 * Compiles every gRPC route's proto from the ConfigMaps read (name → undefined when it
 * does not exist). Pure. Each failure names the route, the ConfigMap, the key and what is
 * wrong (the parse error with its line, the method that is missing or streams).
 */
export function checkProtos(
  apiRoute: ApiRoute,
  namespace: string,
  configMaps: ReadonlyMap<string, ProtoConfigMap | undefined>,
): ProtoCheck {
  const descriptors = new Map<string, GrpcDescriptor>();
  const failures: ProtoFailure[] = [];
  let bytes = 0;
  for (const route of apiRoute.spec.routes) {
    const grpc = route.grpc;
    if (grpc === undefined) continue;
    const { configMap: name, key } = grpc.proto;
    const where = `ConfigMap ${namespace}/${name}`;
    const configMap = configMaps.get(name);
    const source = configMap === undefined ? undefined : sourceOf(configMap, key);
    if (source === undefined) {
      const keys = [
        ...Object.keys(configMap?.data ?? {}),
        ...Object.keys(configMap?.binaryData ?? {}),
      ];
      failures.push({
        route: route.name,
        reason: 'ProtoNotFound',
        message:
          configMap === undefined
            ? `${where} not found: create it with the proto under key ${key} (kubectl create configmap ${name} --from-file=${key}=<file>)`
            : `${where} has no key ${key} (it has ${keys.length > 0 ? keys.join(', ') : 'none'})`,
      });
      continue;
    }
    const result = compileGrpcDescriptor(source, grpc.method, pathParameterNames(route.match.path));
    if (!result.ok) {
      failures.push({
        route: route.name,
        reason: result.reason,
        message: `${where} key ${key}: ${result.message}`,
      });
      continue;
    }
    bytes += JSON.stringify(result.value.descriptor).length;
    descriptors.set(route.name, result.value);
  }
  if (failures.length === 0 && bytes > MAX_DESCRIPTOR_BYTES) {
    failures.push({
      route: [...descriptors.keys()].join(', '),
      reason: 'ProtoTooLarge',
      message: `the descriptors of the gRPC routes take ${bytes} bytes, more than ${MAX_DESCRIPTOR_BYTES} of the route table's ConfigMap (1 MiB at most): split the ApiRoute`,
    });
  }
  return failures.length > 0 ? { ok: false, failures } : { ok: true, descriptors };
}

/** One line for status and Events: every failure with its route. */
export function describeProtoFailures(failures: readonly ProtoFailure[]): string {
  return failures.map((f) => `route ${f.route}: ${f.message}`).join('; ');
}

/** Reads the ConfigMaps by name (one get each; undefined for those that do not exist). */
export async function readProtoConfigMaps(
  read: (obj: KubernetesObject) => Promise<KubernetesObject | undefined>,
  namespace: string,
  names: readonly string[],
): Promise<Map<string, ProtoConfigMap | undefined>> {
  const found = await Promise.all(
    names.map((name) =>
      // client-node's V1ObjectMeta is a behaviourless class; the API takes plain JSON.
      // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
      read({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace } }),
    ),
  );
  return new Map(names.map((name, index) => [name, found[index] as ProtoConfigMap | undefined]));
}
