/**
 * How much a request may carry: a JSON body, a multipart body (uploads) and the pixels of an
 * incoming image. Bodies over their route's limit are refused with a PayloadTooLargeError (413 in
 * each dialect's envelope) before more than the limit is read: a Content-Length over it is refused
 * without reading anything, a chunked body is read up to the limit and no further.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { PayloadTooLargeError } from '../core/errors.ts';
import type { Env } from './env.ts';

export interface BodyLimits {
  /** Bytes of a JSON body (DARKROOM_MAX_JSON_BYTES). */
  json: number;
  /** Bytes of a multipart/form-data body (DARKROOM_MAX_UPLOAD_BYTES). */
  upload: number;
  /** Pixels (width × height) of an incoming image, from its header, before decoding (DARKROOM_MAX_IMAGE_PIXELS). */
  imagePixels: number;
}

export const DEFAULT_BODY_LIMITS: Readonly<BodyLimits> = {
  json: 1024 * 1024,
  upload: 25 * 1024 * 1024,
  imagePixels: 4096 * 4096,
};

export function bodyLimits(given: Partial<BodyLimits> | undefined): BodyLimits {
  return { ...DEFAULT_BODY_LIMITS, ...Object.fromEntries(Object.entries(given ?? {}).filter(([, v]) => v !== undefined)) };
}

/** The kind of body a route reads, from its definition (JSON when it declares none). */
export type BodyKind = 'json' | 'multipart';

/** Sets the server's limits on the context, for `limitBody` (the app's first middleware). */
export function provideLimits(limits: BodyLimits): MiddlewareHandler<Env> {
  return async function limitsOf(c, next) {
    c.set('limits', limits);
    await next();
  };
}

/**
 * Refuses a body over the route's limit (its kind's), reading no more than the limit: a
 * Content-Length over it is refused without touching the body, a chunked body is read up to the
 * limit. The refusal closes the connection (`Connection: close`), so a keep-alive client never sends
 * its next request on a socket that still carries the rest of a refused body.
 */
export function limitBody(kind: BodyKind): MiddlewareHandler<Env> {
  const byLimit = new Map<number, MiddlewareHandler>();
  const refuse = (c: Context, max: number): never => {
    c.header('Connection', 'close');
    throw new PayloadTooLargeError(max, kind);
  };
  return async function limitRequestBody(c, next) {
    const limits = c.get('limits') ?? DEFAULT_BODY_LIMITS;
    const max = kind === 'json' ? limits.json : limits.upload;
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (!/^\d+$/.test(length.trim()) || Number(length) > max) refuse(c, max);
      return next();
    }
    // A GET or HEAD has no body (a fetch Request cannot carry one; over HTTP/1.1 neither header means none):
    // asking the request for its body would build a stream for nothing.
    if ((c.req.method === 'GET' || c.req.method === 'HEAD') && length === undefined && c.req.header('transfer-encoding') === undefined) return next();
    let limiter = byLimit.get(max);
    if (!limiter) {
      limiter = bodyLimit({ maxSize: max, onError: (c) => refuse(c, max) });
      byLimit.set(max, limiter);
    }
    return limiter(c, next);
  };
}
