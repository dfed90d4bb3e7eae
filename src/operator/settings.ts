// Operator settings: what the operator decides for every gateway it creates, as opposed to
// what each ApiRoute asks for. Flags (see command.ts) fill these in; the builders read them.
import {
  GATEWAY_DEFAULTS,
  type CompiledAccessLog,
  type GatewayPodDefaults,
  type TracingDefaults,
} from '../api/index.js';

/** Default gateway image; the Helm chart sets --image to the operator's own image. */
export const DEFAULT_IMAGE = 'ghcr.io/figway/figway:0.1.0';

export interface OperatorSettings {
  /** Gateway image unless an ApiRoute sets spec.gateway.image. */
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /**
   * The gateways' --drain-seconds (GATEWAY_DEFAULTS.drainSeconds explains it). The pod's
   * terminationGracePeriodSeconds is this plus shutdownMarginSeconds, so the kubelet never
   * kills a gateway that is still draining.
   */
  drainSeconds: number;
  /** Time after the drain for in-flight requests to finish and the process to exit. */
  shutdownMarginSeconds: number;
  /** Container ports of the gateway: traffic, and admin (probes and /metrics). */
  gatewayPort: number;
  adminPort: number;
  /** Port of the gateway Service that clients call. */
  servicePort: number;
  /** Access logs of gateways whose ApiRoute sets no spec.gateway.accessLog (the chart's). */
  defaultAccessLog: CompiledAccessLog | undefined;
  /** Placement, exposure and env of gateways whose ApiRoute does not set them (the chart's). */
  gatewayPod: GatewayPodDefaults;
  /** prometheus.io/scrape, /port and /path on the gateway pods, for annotation-based scraping. */
  scrapeAnnotations: boolean;
  /** Tracing endpoint and sampling of gateways whose ApiRoute leaves them out (the chart's). */
  defaultTracing: TracingDefaults | undefined;
  /** The Redis of shared rate limits, given to every gateway; undefined: none. */
  redis: GatewayRedis | undefined;
}

export interface GatewayRedis {
  /** redis:// or rediss:// URL, without a password. */
  url: string;
  /**
   * The Secret key holding the password, read by each gateway pod through secretKeyRef,
   * which can only name a Secret in the pod's own namespace: the Secret must exist in every
   * namespace with an ApiRoute. Not optional, so a missing one keeps the pod from starting
   * (CreateContainerConfigError, visible on the Deployment) rather than run without it.
   */
  passwordSecret?: { name: string; key: string };
}

export const DEFAULT_SETTINGS: OperatorSettings = {
  image: DEFAULT_IMAGE,
  imagePullPolicy: 'IfNotPresent',
  drainSeconds: GATEWAY_DEFAULTS.drainSeconds,
  shutdownMarginSeconds: 5,
  gatewayPort: GATEWAY_DEFAULTS.port,
  adminPort: GATEWAY_DEFAULTS.adminPort,
  servicePort: 80,
  defaultAccessLog: undefined,
  redis: undefined,
  defaultTracing: undefined,
  gatewayPod: {},
  scrapeAnnotations: true,
};
