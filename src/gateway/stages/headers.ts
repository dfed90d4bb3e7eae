// The route's request and response header modifiers (requestHeaders, responseHeaders in the
// ApiRoute): remove, then set, then add. Request headers change before any later stage
// runs, so auth and rate limits see what the upstream will see.
import type { StageBuilder } from '../pipeline.js';
import { applyHeaderModifier } from '../transforms.js';

export const requestHeadersStage: StageBuilder = (route) => {
  const modifier = route?.requestHeaders;
  if (modifier === undefined) return undefined;
  return {
    name: 'request-headers',
    onRequest(ctx) {
      applyHeaderModifier(ctx.upstreamHeaders, modifier);
      return undefined;
    },
  };
};

export const responseHeadersStage: StageBuilder = (route) => {
  const modifier = route?.responseHeaders;
  if (modifier === undefined) return undefined;
  return {
    name: 'response-headers',
    onResponseHead(_ctx, _status, headers) {
      applyHeaderModifier(headers, modifier);
    },
  };
};
