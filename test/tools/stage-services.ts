// The services a stage builder gets, for unit tests of stages that send nothing of their own.
import type { RouteTable } from '../../src/api/index.js';
import { createLogger } from '../../src/common/logger.js';
import type { ProxyEngine } from '../../src/gateway/engine.js';
import { CacheRegistry } from '../../src/gateway/cache/registry.js';
import { GrpcChannels } from '../../src/gateway/grpc/channels.js';
import type { GatewayMetrics } from '../../src/gateway/metrics.js';
import type { StageServices } from '../../src/gateway/pipeline.js';
import { RateLimits } from '../../src/gateway/rate-limits.js';
import type { SecretStore } from '../../src/gateway/secret-store.js';
import { ShadowRegistry } from '../../src/gateway/shadow/registry.js';

export function stageServices(
  secrets: SecretStore,
  metrics: GatewayMetrics,
  table: Partial<RouteTable> = {},
): StageServices {
  const logger = createLogger({ component: 'test', silent: true });
  return {
    table: table as RouteTable,
    logger,
    accessLogger: logger,
    secrets,
    metrics,
    rateLimits: new RateLimits({ logger, metrics }),
    shadows: new ShadowRegistry({} as ProxyEngine, metrics),
    caches: new CacheRegistry({} as ProxyEngine, metrics),
    ownBackend: () => {
      throw new Error('this stage sends nothing of its own');
    },
    engine: {} as ProxyEngine,
    grpcChannels: new GrpcChannels(),
  };
}
