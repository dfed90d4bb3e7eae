// Operator settings: what the operator decides for every gateway it creates, as opposed to
// what each ApiRoute asks for. Flags (see command.ts) fill these in; the builders read them.

/** Default gateway image; the Helm chart sets --image to the operator's own image. */
export const DEFAULT_IMAGE = 'ghcr.io/figway/figway:0.1.0';

export interface OperatorSettings {
  /** Gateway image unless an ApiRoute sets spec.gateway.image. */
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /**
   * Seconds a terminating gateway keeps serving while endpoints drop it from load
   * balancing. The pod's terminationGracePeriodSeconds is this plus shutdownMarginSeconds,
   * so the kubelet never kills a gateway that is still draining.
   */
  drainSeconds: number;
  /** Time after the drain for in-flight requests to finish and the process to exit. */
  shutdownMarginSeconds: number;
  /** Container ports of the gateway: traffic, and admin (probes and /metrics). */
  gatewayPort: number;
  adminPort: number;
  /** Port of the gateway Service that clients call. */
  servicePort: number;
}

export const DEFAULT_SETTINGS: OperatorSettings = {
  image: DEFAULT_IMAGE,
  imagePullPolicy: 'IfNotPresent',
  drainSeconds: 10,
  shutdownMarginSeconds: 5,
  gatewayPort: 8080,
  adminPort: 9090,
  servicePort: 80,
};
