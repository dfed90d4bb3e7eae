// One step's verdict from what was observed during it. Pure. The order of the gates:
//   1. minRequests: fewer new-service requests than that → inconclusive, whatever they show.
//   2. every configured criterion judged on its own (statistics.ts):
//      error ratio always; p99 latency ratio when maxLatencyRatio is set; the shadow
//      mismatch ratio when maxShadowMismatchRatio is set.
//   3. any criterion fails → fail; all pass → pass; otherwise inconclusive, waiting for
//      the most requests any undecided criterion needs.
import {
  errorRatio,
  errorRequestsToDecide,
  judgeErrorRatio,
  judgeLatency,
  judgeProportion,
  latencyRatio,
  LATENCY_MIN_SAMPLES,
  proportionTrialsToDecide,
  type ErrorCounts,
  type LatencySample,
  type Verdict,
} from './statistics.js';

/** The analysis settings of a plan (the API's migration.analysis, defaults applied). */
export interface AnalysisSettings {
  maxErrorRatioIncrease: number;
  maxLatencyRatio?: number | undefined;
  maxShadowMismatchRatio?: number | undefined;
  confidence: number;
  minRequests: number;
}

/** Shadow comparisons of one step, by result (figway_gateway_shadow_requests_total). */
export interface ShadowCounts {
  match: number;
  mismatch: number;
  noise: number;
  error: number;
  skipped: number;
}

/** What the observation source saw of one route during the current step. */
export interface StepObservations {
  /** Requests the new-service backends answered, and how many failed (5xx or fell back). */
  newService: ErrorCounts;
  monolith: ErrorCounts;
  /** p99 of each side; asked for only when the plan sets maxLatencyRatio. */
  latency?: { newService: LatencySample; monolith: LatencySample } | undefined;
  /** Asked for only when the plan sets maxShadowMismatchRatio. */
  shadow?: ShadowCounts | undefined;
}

/** The verdict on one step, as status.routes[].migration.lastAnalysis shows it. */
export interface Analysis {
  /** New-service requests in the step. */
  requests: number;
  newErrorRatio: number;
  monolithErrorRatio: number;
  latencyRatio?: number | undefined;
  mismatchRatio?: number | undefined;
  verdict: Verdict;
  reason: string;
}

/** "1.3%": ratios in reasons, at most three significant digits. */
export function percent(ratio: number): string {
  return `${Number((ratio * 100).toPrecision(3))}%`;
}

function ratioText(counts: ErrorCounts): string {
  return `${percent(errorRatio(counts))} (${counts.errors}/${counts.requests})`;
}

interface Part {
  verdict: Verdict;
  text: string;
  /** Inconclusive: more requests this criterion needs (undefined: unknown). */
  needs?: number | undefined;
}

function errorPart(s: AnalysisSettings, o: StepObservations): Part {
  const verdict = judgeErrorRatio(o.newService, o.monolith, s.maxErrorRatioIncrease, s.confidence);
  const sides = `new-service 5xx ${ratioText(o.newService)}, monolith ${ratioText(o.monolith)}`;
  const rule = `${percent(s.maxErrorRatioIncrease)} at ${percent(s.confidence)} confidence`;
  switch (verdict) {
    case 'fail':
      return { verdict, text: `${sides}: worse than the monolith by more than ${rule}` };
    case 'pass':
      return { verdict, text: `${sides}: within ${rule}` };
    case 'inconclusive':
      return {
        verdict,
        text: `${sides}: not yet within or beyond ${rule}`,
        needs: errorRequestsToDecide(
          o.newService,
          o.monolith,
          s.maxErrorRatioIncrease,
          s.confidence,
        ),
      };
  }
}

function latencyPart(max: number, o: StepObservations): Part {
  const latency = o.latency;
  if (latency === undefined) return { verdict: 'inconclusive', text: 'no latency observed' };
  const verdict = judgeLatency(latency.newService, latency.monolith, max);
  if (verdict === 'inconclusive') {
    const short = (n: number) => Math.max(0, LATENCY_MIN_SAMPLES - n);
    const newShort = short(latency.newService.count);
    const monolithShort = short(latency.monolith.count);
    // Both sides fill at the split's pace: a monolith shortfall in new-service requests.
    const pace = o.monolith.requests > 0 ? o.newService.requests / o.monolith.requests : undefined;
    const needs =
      monolithShort === 0
        ? newShort
        : pace === undefined
          ? undefined
          : Math.max(newShort, Math.ceil(monolithShort * pace));
    return {
      verdict,
      text: `p99 latency needs ${LATENCY_MIN_SAMPLES} requests on each side (new service ${latency.newService.count}, monolith ${latency.monolith.count})`,
      needs,
    };
  }
  const ratio = latencyRatio(latency.newService, latency.monolith);
  const ms = (s: number) => `${Number((s * 1000).toPrecision(3))} ms`;
  return {
    verdict,
    text: `p99 ${ms(latency.newService.p99Seconds)} vs the monolith's ${ms(latency.monolith.p99Seconds)}: ${Number(ratio.toPrecision(3))}× (${verdict === 'fail' ? 'above' : 'within'} ${max}×)`,
  };
}

/** Compared shadow requests: noise counts as a match, errors and skips as not compared. */
export function shadowCompared(shadow: ShadowCounts): number {
  return shadow.match + shadow.mismatch + shadow.noise;
}

function shadowPart(max: number, confidence: number, o: StepObservations): Part {
  const shadow = o.shadow ?? { match: 0, mismatch: 0, noise: 0, error: 0, skipped: 0 };
  const compared = shadowCompared(shadow);
  const verdict = judgeProportion(shadow.mismatch, compared, max, confidence);
  const ratio = compared > 0 ? shadow.mismatch / compared : 0;
  const sides = `shadow mismatches ${percent(ratio)} (${shadow.mismatch}/${compared} compared)`;
  const rule = `${percent(max)} at ${percent(confidence)} confidence`;
  switch (verdict) {
    case 'fail':
      return { verdict, text: `${sides}: above ${rule}` };
    case 'pass':
      return { verdict, text: `${sides}: within ${rule}` };
    case 'inconclusive':
      return {
        verdict,
        text: `${sides}: not yet within or above ${rule}`,
        needs: proportionTrialsToDecide(shadow.mismatch, compared, max, confidence),
      };
  }
}

function waiting(needs: number | undefined): string {
  return needs === undefined
    ? 'inconclusive: waiting for more requests (the ratios are too close to the limit to say how many)'
    : `inconclusive: waiting for ${needs} more requests`;
}

/** The verdict on a step; see the header comment for the rule. */
export function analyze(settings: AnalysisSettings, observations: StepObservations): Analysis {
  const requests = observations.newService.requests;
  const latency = observations.latency;
  // Shown only when both sides have latencies, and finite: status is JSON.
  const shownLatency =
    settings.maxLatencyRatio !== undefined &&
    latency !== undefined &&
    latency.newService.count > 0 &&
    latency.monolith.count > 0
      ? latencyRatio(latency.newService, latency.monolith)
      : Number.NaN;
  const base = {
    requests,
    newErrorRatio: errorRatio(observations.newService),
    monolithErrorRatio: errorRatio(observations.monolith),
    ...(Number.isFinite(shownLatency) && { latencyRatio: shownLatency }),
    ...(settings.maxShadowMismatchRatio !== undefined &&
      observations.shadow !== undefined &&
      shadowCompared(observations.shadow) > 0 && {
        mismatchRatio: observations.shadow.mismatch / shadowCompared(observations.shadow),
      }),
  };
  if (requests < settings.minRequests) {
    return {
      ...base,
      verdict: 'inconclusive',
      reason: `${waiting(settings.minRequests - requests)} (${requests} of minRequests ${settings.minRequests} on the new service)`,
    };
  }
  const parts = [errorPart(settings, observations)];
  if (settings.maxLatencyRatio !== undefined)
    parts.push(latencyPart(settings.maxLatencyRatio, observations));
  if (settings.maxShadowMismatchRatio !== undefined)
    parts.push(shadowPart(settings.maxShadowMismatchRatio, settings.confidence, observations));
  const failed = parts.filter((p) => p.verdict === 'fail');
  if (failed.length > 0) {
    return { ...base, verdict: 'fail', reason: `fail: ${failed.map((p) => p.text).join('; ')}` };
  }
  const open = parts.filter((p) => p.verdict === 'inconclusive');
  if (open.length === 0) {
    return { ...base, verdict: 'pass', reason: `pass: ${parts.map((p) => p.text).join('; ')}` };
  }
  const needs = open.some((p) => p.needs === undefined)
    ? undefined
    : Math.max(...open.map((p) => p.needs ?? 0));
  return {
    ...base,
    verdict: 'inconclusive',
    reason: `${waiting(needs)} (${open.map((p) => p.text).join('; ')})`,
  };
}
