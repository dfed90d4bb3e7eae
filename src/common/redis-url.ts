// The Redis address of shared rate limits, checked the same way where it is given: the
// gateway's --redis-url and the operator's --gateway-redis-url (the chart's gateway.redis.url).

/** Where the gateway reads the Redis password (from a Secret), so it never shows in its args. */
export const REDIS_PASSWORD_ENV = 'FIGWAY_REDIS_PASSWORD';

/** Why `url` is not a usable Redis address for `flag`, or undefined when it is. Pure. */
export function redisUrlProblem(flag: string, url: string): string | undefined {
  if (!/^rediss?:\/\/[^\s/]+/.test(url) || !URL.canParse(url)) {
    return `${flag} must be redis://host:port or rediss://host:port, got ${url}`;
  }
  if (new URL(url).password !== '') {
    // It would show in the process arguments and the pod spec.
    return `${flag} must not hold a password: set ${REDIS_PASSWORD_ENV} instead`;
  }
  return undefined;
}
