// The ApiRoute API: what the operator and the gateway agree on.
export * from './schema.js';
export * from './validate.js';
export * from './route-table.js';
export * from './cache-schema.js';
export * from './tracing-schema.js';
export { DURATION, durationToMs } from './fields.js';
export { canonicalQuantity, quantityValue } from './quantity.js';
export * from './ip.js';
export * from './documents.js';
export { GATEWAY_DEFAULTS } from './gateway-defaults.js';
export * from './gateway-pod-schema.js';
export { compileRouteRegex, RouteRegexError, type RouteRegex } from './regex.js';
export {
  encodeParameter,
  fillParameters,
  MAX_PATH_PARAMETERS,
  parameterReferences,
  pathParameterNames,
  undeclaredReferenceError,
} from './path-template.js';
export * from './grpc-schema.js';
export * from './grpc-descriptor.js';
