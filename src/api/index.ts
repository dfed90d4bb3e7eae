// The ApiRoute API: what the operator and the gateway agree on.
export * from './schema.js';
export * from './validate.js';
export * from './route-table.js';
export { DURATION, durationToMs } from './fields.js';
export { canonicalQuantity, quantityValue } from './quantity.js';
export * from './ip.js';
export * from './documents.js';
export { GATEWAY_DEFAULTS } from './gateway-defaults.js';
export { compileRouteRegex, RouteRegexError, type RouteRegex } from './regex.js';
