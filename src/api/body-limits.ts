/**
 * How much a request's body may carry: JSON, or multipart (uploads); the pixels of an incoming
 * image are checked where it is read (core/images.ts). Bodies over their route's limit are refused
 * with a PayloadTooLargeError (413 in each dialect's envelope) before more than the limit is read: a
 * Content-Length over it is refused without reading anything, a chunked body is read up to the
 * limit and no further.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { PayloadTooLargeError } from '../core/errors.ts';
import type { Env } from './env.ts';
import { requestHeader } from './request-header.ts';

export interface BodyLimits {
  /** Bytes of a JSON body (DARKROOM_MAX_JSON_BYTES). */
  json: number;
  /** Bytes of a multipart/form-data body (DARKROOM_MAX_UPLOAD_BYTES). */
  upload: number;
}

export const DEFAULT_BODY_LIMITS: Readonly<BodyLimits> = {
  json: 1024 * 1024,
  upload: 25 * 1024 * 1024,
};

export function bodyLimits(given: Partial<BodyLimits> | undefined): BodyLimits {
  return { ...DEFAULT_BODY_LIMITS, ...Object.fromEntries(Object.entries(given ?? {}).filter(([, v]) => v !== undefined)) };
}

/** The kind of body a route reads, from its definition (JSON when it declares none). */
export type BodyKind = 'json' | 'multipart';

/**
 * Refuses a body over the route's limit (its kind's), reading no more than the limit: a
 * Content-Length over it is refused without touching the body, a chunked body is read up to the
 * limit. The refusal closes the connection (`Connection: close`), so a keep-alive client never sends
 * its next request on a socket that still carries the rest of a refused body.
 */
export function limitBody(kind: BodyKind, limits: BodyLimits): MiddlewareHandler<Env> {
  const max = kind === 'json' ? limits.json : limits.upload;
  const refuse = (c: Context): never => {
    c.header('Connection', 'close');
    throw new PayloadTooLargeError(max, kind);
  };
  const chunked = bodyLimit({ maxSize: max, onError: refuse });
  return async function limitRequestBody(c, next) {
    const length = requestHeader(c, 'content-length');
    const transferEncoding = requestHeader(c, 'transfer-encoding');
    if (length !== undefined && transferEncoding === undefined) {
      if (!/^\d+$/.test(length.trim()) || Number(length) > max) refuse(c);
      return next();
    }
    // A GET or HEAD has no body (a fetch Request cannot carry one; over HTTP/1.1 neither header means none):
    // asking the request for its body would build a stream for nothing.
    if ((c.req.method === 'GET' || c.req.method === 'HEAD') && length === undefined && transferEncoding === undefined) return next();
    return chunked(c, next);
  };
}
