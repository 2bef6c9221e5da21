/** API-key authentication shared by every dialect: `Authorization: Bearer <key>`. */
import type { MiddlewareHandler } from 'hono';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Accounts } from '../core/accounts.ts';
import { UnauthorizedError } from '../core/errors.ts';
import type { RateLimiter } from '../core/rate-limit.ts';
import { answerHeader } from './answer-header.ts';
import type { Env } from './env.ts';
import { requestHeader } from './request-header.ts';

export function bearerSecret(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

/** `Authorization: Bearer <key>` or the bare key (seed 002's Stability Core clients send it raw). */
export function bearerOrRawSecret(header: string | undefined): string | undefined {
  const h = (header ?? '').trim();
  return bearerSecret(h) ?? (/^\S+$/.test(h) && !/^bearer$/i.test(h) ? h : undefined);
}

/**
 * Requires a valid key; sets c.var.auth. Then counts the request against the key's rate limit.
 * `secretOf` reads the key from the Authorization header (default: Bearer only).
 */
export function requireApiKey(accounts: Accounts, limiter: RateLimiter, secretOf: (authorization: string | undefined) => string | undefined = bearerSecret): MiddlewareHandler<Env> {
  return async function requireApiKey(c, next) {
    const secret = secretOf(requestHeader(c, 'authorization'));
    if (!secret) throw new UnauthorizedError();
    const auth = await accounts.authenticate(secret);
    c.set('auth', auth);
    if (limiter.perSecond > 0) {
      const { limit, remaining } = await limiter.take(auth.key.id);
      answerHeader(c, 'X-RateLimit-Limit', String(limit));
      answerHeader(c, 'X-RateLimit-Remaining', String(remaining));
    }
    await next();
  };
}

/** The caller's user id when a valid key was sent, else undefined (for routes open to anyone). */
export async function optionalUserId(accounts: Accounts, header: string | undefined): Promise<string | undefined> {
  const secret = bearerSecret(header);
  if (!secret) return undefined;
  try {
    return (await accounts.authenticate(secret)).user.id;
  } catch {
    return undefined;
  }
}

/** The `bearer` security scheme the routes' `security` names (each dialect registers it, so any one alone documents it). */
export function registerBearer(app: OpenAPIHono<Env>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key: printed once on first start, or made with `npx darkroom keys create --user NAME` or POST /v1/user/tokens.',
  });
}
