/** CORS for the API routes: any origin may call them (keys, not cookies, authenticate). */
import type { Context, MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { answerHeader } from './answer-header.ts';
import type { Env } from './env.ts';

export interface CrossOriginRule {
  /** Paths starting with it (e.g. `/v1/`) get these headers. */
  prefix: string;
  allowHeaders: string[];
  exposeHeaders: string[];
}

/**
 * Preflights are answered by hono/cors; other requests get the same two headers (`answerHeader`)
 * before the handler answers. hono/cors sets them on `c.res` instead, which makes a Response that
 * the handler's answer is then copied into, and that copy turns off @hono/node-server's fast path
 * (the answer written to the socket straight from the string the handler gave). The first rule
 * whose prefix the path has applies; paths under none get no CORS headers. Not async and one step
 * for every rule: it runs inside the request observer (ops.ts), not as a Hono layer of its own.
 */
export function crossOrigin(rules: readonly CrossOriginRule[]): (c: Context<Env>, next: () => Promise<void>) => Promise<Response | void> {
  const prepared = rules.map((r) => ({
    prefix: r.prefix,
    preflight: cors({ origin: '*', allowHeaders: r.allowHeaders, exposeHeaders: r.exposeHeaders }) as MiddlewareHandler<Env>,
    exposed: r.exposeHeaders.join(','),
  }));
  return function crossOrigin(c, next) {
    const path = c.req.path;
    const rule = prepared.find((r) => path.startsWith(r.prefix));
    if (!rule) return next();
    if (c.req.method === 'OPTIONS') return rule.preflight(c, next);
    answerHeader(c, 'Access-Control-Allow-Origin', '*');
    answerHeader(c, 'Access-Control-Expose-Headers', rule.exposed);
    return next();
  };
}
