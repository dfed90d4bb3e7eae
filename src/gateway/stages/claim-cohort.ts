// A cohort keyed on a JWT claim (`cohort: { claim: sub }`): the plan chose the backend before
// any stage ran, when no claim was verified yet, so this stage chooses again right after
// auth, with the claims the jwt stage set. Everything after it (shadowing, the upstream
// call, the metrics) sees the claim's side. Requests without the claim keep the plan's
// choice, which for them is the same random split chooseBackend makes.
import { chooseBackend } from '../plan.js';
import type { StageBuilder } from '../pipeline.js';

export const claimCohortStage: StageBuilder = (route) => {
  if (route?.cohort === undefined || !('claim' in route.cohort)) return undefined;
  return {
    name: 'claim-cohort',
    onRequest(ctx) {
      const claims = ctx.claims;
      if (claims === undefined) return undefined;
      const { plan } = ctx;
      ctx.backend = chooseBackend(
        plan.route,
        ctx.req.headers,
        plan.clientAddress,
        plan.random,
        claims,
      );
      return undefined;
    },
  };
};
