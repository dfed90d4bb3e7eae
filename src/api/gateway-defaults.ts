// Defaults of the gateway process, in one place for both sides: `figway gateway` falls back
// to them when a flag is absent, and the operator writes them into every gateway Deployment
// (and the chart's values repeat the drain). A gateway started by hand then behaves as one
// the operator runs.
export const GATEWAY_DEFAULTS = {
  /** Traffic port. */
  port: 8080,
  /** /healthz, /readyz and /metrics. */
  adminPort: 9090,
  /** After SIGTERM: seconds in-flight requests may take to finish before they are cut off. */
  drainSeconds: 10,
} as const;
