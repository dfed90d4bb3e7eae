// The request pipeline: the policies a route enables, as an ordered list of small named
// stages compiled once per config (the "passes" of node-http-proxy, Envoy's filter chain).
//
//   plan (plan.ts: target, Host, normalised path, route, backend, upstream headers)
//     → request stages, in STAGE_ORDER; any may answer locally and end the request
//     → the upstream call: an HTTP exchange (exchange.ts) or a websocket tunnel (websocket.ts)
//     → response-head stages, in the same order, on the upstream's head before the client sees it
//     → done stages, once the exchange is over, whatever its outcome
//
// A stage that a route does not enable is not in its pipeline at all, so a request pays
// only for what its route asks for. Every later gateway feature (CORS, auth, rate limits,
// caching, shadowing, composition) is one more builder in STAGE_ORDER, in its own file
// under stages/.
import type { IncomingMessage } from 'node:http';
import type { CompiledBackend, CompiledRoute, RouteTable } from '../api/index.js';
import type { Logger } from '../common/logger.js';
import type { CacheRegistry } from './cache/registry.js';
import type { BodyTap, ProxyEngine } from './engine.js';
import type { GatewayMetrics } from './metrics.js';
import type { ProxyPlan } from './plan.js';
import type { RateLimitDecision, RateLimits } from './rate-limits.js';
import type { RuntimeBackend } from './runtime.js';
import type { SecretStore } from './secret-store.js';
import type { ShadowRegistry } from './shadow/registry.js';
import type { Headers } from './transforms.js';
import type { RequestTrace } from './tracing.js';
import { accessLogStage } from './stages/access-log.js';
import { claimCohortStage } from './stages/claim-cohort.js';
import { corsStage } from './stages/cors.js';
import { jwtStage } from './stages/jwt.js';
import { apiKeyStage } from './stages/api-key.js';
import { cacheStage } from './stages/cache.js';
import { composeStage } from './stages/compose.js';
import { requestHeadersStage, responseHeadersStage } from './stages/headers.js';
import { rateLimitStage } from './stages/rate-limit.js';
import { shadowStage } from './stages/shadow.js';
import { grpcStage } from './stages/grpc.js';
import type { GrpcChannels } from './grpc/channels.js';

/** An answer the gateway gives itself instead of calling the upstream. */
export interface Answer {
  readonly status: number;
  /** Machine-readable cause, e.g. bad-path or rate-limited; goes into the JSON body. */
  readonly reason: string;
  readonly message: string;
  readonly headers?: Headers;
  /** A JSON body of the stage's own (a composed answer, a gRPC reply) instead of the error body. */
  readonly body?: string;
  /**
   * The answer came from the plan's backend through a stage (a gRPC call), so it is
   * counted on that backend and named in the backend header, as a proxied answer is.
   */
  readonly fromBackend?: boolean;
  /** A response the cache kept: sent as it is, in place of the JSON body of a gateway answer. */
  readonly stored?: StoredResponse;
}

/** A whole response to send as it is (a cache hit). */
export interface StoredResponse {
  readonly status: number;
  /** Fresh for this answer: the exchange adds its own headers to it. */
  readonly headers: Headers;
  readonly body: Buffer;
  /** The backend that served it, for the backend header. */
  readonly backend: string;
}

/** What a stage sees of a request in flight. */
export interface StageContext {
  readonly plan: ProxyPlan;
  readonly req: IncomingMessage;
  /** The headers that will go upstream; request stages may edit them in place. */
  readonly upstreamHeaders: Headers;
  /** The backend to call: the plan's, until the claim-cohort stage chooses by a claim. */
  backend: RuntimeBackend;
  /** The verified JWT's claims, set by the jwt stage. */
  claims?: Record<string, unknown>;
  /** The API-key consumer's name, set by the api-key stage. */
  consumer?: string;
  /** What the request spent of its rate-limit budget, set by the rate-limit stage. */
  rateLimit?: RateLimitDecision;
  /**
   * Has `tap` see the request and response bodies as they stream (the shadow stage's
   * copies). Only HTTP exchanges have it; websocket tunnels have no bodies to tap.
   */
  tapBodies?(tap: BodyTap): void;
  /** The tap tapBodies set, if any. */
  readonly tap?: BodyTap | undefined;
  /** The request's trace when the gateway traces (tracing.ts startChildSpan opens children). */
  readonly trace?: RequestTrace | undefined;
}

/** How an exchange ended, for done stages (access log, later the shadow comparison). */
export interface Outcome {
  /** Status sent to the client; 0 when the client went away or the answer was cut off. */
  readonly status: number;
  /** Name of the backend that served or failed the request last ('' when none was called). */
  readonly backendName: string;
  readonly retries: number;
  readonly fellBack: boolean;
  /** Request body bytes (as sent upstream) and response bytes (head and body, as written). */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** From the delivered attempt's start to the response's end; undefined when none was. */
  readonly upstreamMs: number | undefined;
  readonly totalMs: number;
  /** Whether the gateway answered by itself (a plan refusal or a stage's answer). */
  readonly local: boolean;
  /** Why the last upstream attempt failed, if it did (connect-failure, timeout, body, …). */
  readonly failure: string | undefined;
}

export type RequestStep = Answer | undefined;

export interface Stage {
  readonly name: string;
  /** Before the upstream call; an Answer ends the request there. May be asynchronous. */
  onRequest?(ctx: StageContext): RequestStep | Promise<RequestStep>;
  /** On the upstream's response head; edits the client's headers in place. */
  onResponseHead?(ctx: StageContext, status: number, headers: Headers): void;
  /**
   * On an answer the gateway gives itself once the route's stages ran (a later stage's
   * 401/403/429, or 502/504 after the upstream failed); adds to its headers in place.
   */
  onAnswerHead?(ctx: StageContext, answer: Answer, headers: Headers): void;
  /** Once, when the exchange is over. Must not throw. */
  onDone?(ctx: StageContext, outcome: Outcome): void;
}

/** A route's stages, split by hook so each phase loops only over stages that have one. */
export interface Pipeline {
  readonly names: readonly string[];
  readonly request: readonly Stage[];
  readonly responseHead: readonly Stage[];
  readonly answerHead: readonly Stage[];
  readonly done: readonly Stage[];
}

/** What a stage builder may use besides the route: the table and the gateway's services. */
export interface StageServices {
  readonly table: RouteTable;
  readonly logger: Logger;
  /** Writes access log lines at info level whatever the gateway's log level is. */
  readonly accessLogger: Logger;
  /** API keys and JWKS of the Secrets the table names, kept current by the Secrets' source. */
  readonly secrets: SecretStore;
  readonly metrics: GatewayMetrics;
  /** The rate-limit budgets, kept across configs. */
  readonly rateLimits: RateLimits;
  /** The gateway's shadow comparisons: stats, the in-flight cap, the engine for copies. */
  readonly shadows: ShadowRegistry;
  /** The gateway's response caches, kept across configs for routes that stay the same. */
  readonly caches: CacheRegistry;
  /**
   * A backend of this config bound to the pools kept for the gateway's own requests
   * (shadow copies), so a slow shadow never holds a connection client traffic needs.
   */
  readonly ownBackend: (backend: CompiledBackend, route: string) => RuntimeBackend;
  /** The gateway's gRPC channels, kept across configs as the pools are. */
  readonly grpcChannels: GrpcChannels;
  /** The engine client attempts go through (composition parts). */
  readonly engine: ProxyEngine;
}

/** Builds a stage for a route, or undefined when the route does not enable it. */
export type StageBuilder = (
  route: CompiledRoute | undefined,
  services: StageServices,
) => Stage | undefined;

/**
 * The order stages run in. CORS first, so preflights are answered without credentials;
 * auth before rate limits, so a claim or an API key can key a limit; a claim cohort
 * chooses its backend once the claims are verified; request headers are changed after
 * those; the cache comes after auth and rate limits (a hit never skips them) and after the
 * header edits, so it keys on what goes upstream and keeps what the client gets;
 * composition and gRPC translation answer by themselves after every policy, so their
 * calls carry the headers an upstream would; shadowing comes after every stage that may
 * answer by itself, so only requests that really go upstream are copied, and it sees the
 * response head as the client gets it; the access log is last so it records what every
 * other stage did. `route` is undefined for requests no route claims.
 */
export const STAGE_ORDER: readonly StageBuilder[] = [
  corsStage,
  jwtStage,
  apiKeyStage,
  rateLimitStage,
  claimCohortStage,
  requestHeadersStage,
  responseHeadersStage,
  cacheStage,
  composeStage,
  grpcStage,
  shadowStage,
  accessLogStage,
];

export function compilePipeline(stages: readonly (Stage | undefined)[]): Pipeline {
  const present = stages.filter((s): s is Stage => s !== undefined);
  return {
    names: present.map((s) => s.name),
    request: present.filter((s) => s.onRequest !== undefined),
    responseHead: present.filter((s) => s.onResponseHead !== undefined),
    answerHead: present.filter((s) => s.onAnswerHead !== undefined),
    done: present.filter((s) => s.onDone !== undefined),
  };
}

/** The pipeline of one route (or of unmatched traffic), compiled once per config. */
export function buildPipeline(route: CompiledRoute | undefined, services: StageServices): Pipeline {
  return compilePipeline(STAGE_ORDER.map((build) => build(route, services)));
}

function isPromise(value: RequestStep | Promise<RequestStep>): value is Promise<RequestStep> {
  return value !== undefined && typeof (value as Promise<RequestStep>).then === 'function';
}

/**
 * Runs the request stages from `from` on. Synchronous stages run in a plain loop; the
 * first asynchronous one hands the rest to its promise, so requests whose route has only
 * synchronous stages never allocate a promise. `next` hears the first answer, or
 * undefined when every stage let the request through; a stage that throws or rejects
 * becomes a 500 answer, never a crashed gateway.
 */
export function runRequestStages(
  pipeline: Pipeline,
  ctx: StageContext,
  next: (answer: RequestStep) => void,
  from = 0,
): void {
  const stages = pipeline.request;
  for (let i = from; i < stages.length; i += 1) {
    const stage = stages[i] as Stage;
    let step: RequestStep | Promise<RequestStep>;
    try {
      step = (stage.onRequest as NonNullable<Stage['onRequest']>)(ctx);
    } catch (error) {
      next(stageFailure(stage, error));
      return;
    }
    if (isPromise(step)) {
      step.then(
        (answer) => {
          if (answer !== undefined) next(answer);
          else runRequestStages(pipeline, ctx, next, i + 1);
        },
        (error: unknown) => {
          next(stageFailure(stage, error));
        },
      );
      return;
    }
    if (step !== undefined) {
      next(step);
      return;
    }
  }
  next(undefined);
}

function stageFailure(stage: Stage, error: unknown): Answer {
  return {
    status: 500,
    reason: 'stage-failed',
    message: `gateway stage ${stage.name} failed: ${error instanceof Error ? error.message : String(error)}`,
  };
}

export function runResponseHeadStages(
  pipeline: Pipeline,
  ctx: StageContext,
  status: number,
  headers: Headers,
): void {
  for (const stage of pipeline.responseHead)
    (stage.onResponseHead as NonNullable<Stage['onResponseHead']>)(ctx, status, headers);
}

/**
 * The headers the route's response-head stages (cors, responseHeaders) give an answer a
 * stage made itself from upstream calls (a composed answer, a gRPC reply), as they would
 * give an upstream's.
 */
export function stageAnswerHeaders(ctx: StageContext, status: number): Headers {
  const headers: Headers = {};
  runResponseHeadStages(ctx.plan.pipeline, ctx, status, headers);
  return headers;
}

export function runAnswerHeadStages(
  pipeline: Pipeline,
  ctx: StageContext,
  answer: Answer,
  headers: Headers,
): void {
  for (const stage of pipeline.answerHead)
    (stage.onAnswerHead as NonNullable<Stage['onAnswerHead']>)(ctx, answer, headers);
}

export function runDoneStages(pipeline: Pipeline, ctx: StageContext, outcome: Outcome): void {
  for (const stage of pipeline.done) {
    try {
      (stage.onDone as NonNullable<Stage['onDone']>)(ctx, outcome);
    } catch {
      // A done stage only observes; the answer has been sent. Nothing to undo.
    }
  }
}
