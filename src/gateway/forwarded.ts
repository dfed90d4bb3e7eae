// INTERIM (replaced by the forwarding work on branch wt-head).
import type { Headers } from './transforms.js';

export interface TrustedProxies {
  contains(address: string): boolean;
}

export function compileTrustedProxies(_cidrs: readonly string[]): TrustedProxies {
  return { contains: () => false };
}

export function clientAddress(
  peer: string,
  xff: string | string[] | undefined,
  _trusted: TrustedProxies,
): string {
  const first = Array.isArray(xff) ? xff[0] : xff;
  if (first !== undefined && first !== '') {
    const comma = first.indexOf(',');
    return (comma === -1 ? first : first.slice(0, comma)).trim();
  }
  return peer;
}

export function forwardedHeaders(
  out: Headers,
  incoming: Headers,
  ctx: { peer: string; encrypted: boolean; host: string; trusted: TrustedProxies },
): void {
  const xff = incoming['x-forwarded-for'];
  const prior = Array.isArray(xff) ? xff.join(', ') : xff;
  out['x-forwarded-for'] = prior !== undefined && prior !== '' ? `${prior}, ${ctx.peer}` : ctx.peer;
  if (incoming['x-forwarded-proto'] === undefined)
    out['x-forwarded-proto'] = ctx.encrypted ? 'https' : 'http';
  if (incoming['x-forwarded-host'] === undefined && ctx.host !== '')
    out['x-forwarded-host'] = ctx.host;
}
