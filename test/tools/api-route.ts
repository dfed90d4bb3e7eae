// Valid ApiRoutes for tests: validated as the operator validates them, every default
// applied. A fixture that does not validate fails its test with every field error.
import { formatErrors, validateApiRoute, type ApiRoute } from '../../src/api/index.js';

export function validApiRoute(input: unknown): ApiRoute {
  const result = validateApiRoute(input);
  if (!result.ok) throw new Error(`invalid ApiRoute fixture:\n${formatErrors(result.errors)}`);
  return result.value;
}
