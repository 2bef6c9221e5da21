/** CORS for the API routes: any origin may call them (keys, not cookies, authenticate). */
import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { answerHeader } from './answer-header.ts';
import type { Env } from './env.ts';

/**
 * Preflights are answered by hono/cors; other requests get the same two headers (`answerHeader`)
 * before the handler answers. hono/cors sets them on `c.res` instead, which makes a Response that
 * the handler's answer is then copied into, and that copy turns off @hono/node-server's fast path
 * (the answer written to the socket straight from the string the handler gave).
 */
export function anyOrigin(options: { allowHeaders: string[]; exposeHeaders: string[] }): MiddlewareHandler<Env> {
  const preflight = cors({ origin: '*', ...options });
  const exposed = options.exposeHeaders.join(',');
  return async function anyOrigin(c, next) {
    if (c.req.method === 'OPTIONS') return preflight(c, next);
    answerHeader(c, 'Access-Control-Allow-Origin', '*');
    answerHeader(c, 'Access-Control-Expose-Headers', exposed);
    await next();
  };
}
