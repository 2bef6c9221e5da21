/**
 * `Idempotency-Key` on the create routes of every dialect (src/core/idempotency.ts has the rules).
 * Mounted after auth (the key is per user account), before the handler reads the body:
 *
 * - no header: the route behaves as without this middleware;
 * - a bad key (empty, over 255 characters, not printable ASCII): 400 naming the header;
 * - the first request with a key runs, and its answer is saved: status, body and headers (not the
 *   per-request ones: X-Request-Id, rate-limit counters, CORS). While it runs it is not cancelled
 *   when its client hangs up, so a retry gets its images rather than a second charge;
 * - the same key and request again: the saved answer, with `Idempotent-Replayed: true`, also when
 *   it comes while the first still runs (it waits, up to the generation timeout: then 409);
 * - the same key with a different request: 422, nothing runs.
 *
 * What is not saved: answers for requests known to have charged nothing — every 4xx (the request was
 * refused before anything was charged: bad input, key, credits, rate or queue limit) and the 5xx of
 * Darkroom's own failures (a generation that failed or timed out: its credits were refunded). Those
 * release the key, so the corrected or repeated request may use it and run; as with Stripe, whose keys
 * save only results of requests that began executing. Any other answer (2xx, an unexpected 5xx) is
 * saved and replayed.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from '@hono/zod-openapi';
import { DarkroomError } from '../core/errors.ts';
import { IDEMPOTENCY_KEY_MAX_LENGTH, parseIdempotencyKey, requestFingerprint, type Idempotency, type IdempotentAnswer } from '../core/idempotency.ts';
import type { Env } from './env.ts';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';

/** The header as documented on each create route (`request.headers`). */
export const IdempotencyHeaders = z.object({
  [IDEMPOTENCY_KEY_HEADER]: z
    .string()
    .min(1)
    .max(IDEMPOTENCY_KEY_MAX_LENGTH)
    .optional()
    .openapi({
      description:
        `Optional, 1-${IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters (a UUID, say), kept per account for DARKROOM_IDEMPOTENCY_TTL (24 h). ` +
        'Sending the same request again with the same key answers the first answer again, with `Idempotent-Replayed: true`, and charges nothing more; ' +
        'while the first still runs the second waits for its answer (409 if it is still running after the generation timeout). ' +
        'The same key with a different request (method, path, Accept or body) is refused with 422. Refusals (4xx) and failed or timed-out ' +
        'generations (refunded) are not kept, so the key may be sent again.',
      example: '5b9e2c1a-8f4e-4c57-9d1b-2f0a6f3e7c11',
    }),
});

/** Headers that belong to one HTTP exchange, not to the answer: never saved, never replayed. */
const PER_REQUEST = new Set([
  'x-request-id',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'retry-after',
  'date',
  'content-length',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'set-cookie',
  'vary',
  IDEMPOTENT_REPLAYED_HEADER.toLowerCase(),
]);

/**
 * Whether the request is known to have charged nothing: any 4xx (refused before any charge), or one
 * of Darkroom's own errors (each is either a refusal before the charge or a failure whose credits
 * were refunded: generation_failed, timeout). An unexpected error (a bug, a lost database) may have
 * come after the charge, so its answer is saved, as Stripe saves a 500.
 */
function chargedNothing(c: Context<Env>, status: number): boolean {
  return (status >= 400 && status < 500) || c.error instanceof DarkroomError;
}

async function capture(res: Response): Promise<IdempotentAnswer> {
  const headers: [string, string][] = [];
  res.headers.forEach((value, name) => {
    if (!PER_REQUEST.has(name) && !name.startsWith('access-control-')) headers.push([name, value]);
  });
  return { status: res.status, headers, body: new Uint8Array(await res.clone().arrayBuffer()) };
}

function replay(c: Context<Env>, answer: IdempotentAnswer): Response {
  for (const [name, value] of answer.headers) c.header(name, value, { append: true });
  c.header(IDEMPOTENT_REPLAYED_HEADER, 'true');
  const status = answer.status as ContentfulStatusCode;
  return answer.body.byteLength ? c.body(new Uint8Array(answer.body), status) : c.body(null, status);
}

/**
 * The request as the handler sees it, minus the client's abort signal: a request that holds a key
 * runs to its end even if its client hangs up, so that a retry gets its answer.
 */
function detachFromClient(c: Context<Env>, body: Uint8Array): void {
  const raw = c.req.raw;
  c.req.raw = new Request(raw.url, { method: raw.method, headers: raw.headers, body: body.byteLength ? new Uint8Array(body) : undefined });
}

export function idempotent(idempotency: Idempotency): MiddlewareHandler<Env> {
  return async function idempotent(c, next) {
    const header = c.req.header(IDEMPOTENCY_KEY_HEADER);
    if (header === undefined) return next();
    const key = parseIdempotencyKey(header);
    const body = new Uint8Array(await c.req.arrayBuffer());
    const url = new URL(c.req.url);
    const fingerprint = requestFingerprint({
      method: c.req.method,
      path: url.pathname + url.search,
      accept: c.req.header('accept') ?? '',
      contentType: c.req.header('content-type') ?? '',
      body,
    });
    const outcome = await idempotency.begin(c.get('auth').user.id, key, fingerprint, c.req.raw.signal);
    if ('replay' in outcome) return replay(c, outcome.replay);
    const { claim } = outcome;
    detachFromClient(c, body);
    try {
      await next();
    } catch (err) {
      await claim.release();
      throw err;
    }
    if (chargedNothing(c, c.res.status)) await claim.release();
    else await claim.save(await capture(c.res));
  };
}
