/**
 * The two Stability envelopes, each mapped once from Darkroom's errors:
 *  - seed 002's /api/generate/core: `{"code": -1, "message"}` (the message starts with the field at fault);
 *  - Stability's v2beta: `{"id": <32 hex>, "name", "errors": ["field: problem"]}` with 400 (bad input),
 *    401 (key), 402 (credits), 413 (body over 10 MiB), 422 (well-formed but refused by the model),
 *    429 (rate limit, waiting line), 500 (the generation failed; not charged).
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { DarkroomError, RateLimitedError, ValidationError } from '../../core/errors.ts';
import type { Env } from '../env.ts';

/** Darkroom's field names → Stability's. */
const FIELDS: Record<string, string> = { negativePrompt: 'negative_prompt', numOutputs: 'samples', tiling: 'style_preset' };

export function stabilityField(field: string): string {
  return FIELDS[field] ?? field;
}

/** Fields a v2beta client sends; a problem with anything else (the model's limits) is a 422. */
const V2_FIELDS = new Set(['prompt', 'aspect_ratio', 'negative_prompt', 'seed', 'style_preset', 'output_format', 'accept', 'content-type', 'Idempotency-Key', '']);

function statusOf(err: DarkroomError): ContentfulStatusCode {
  switch (err.code) {
    case 'unauthorized':
      return 401;
    case 'forbidden':
      return 403;
    case 'not_found':
      return 404;
    case 'insufficient_credits':
      return 402;
    case 'rate_limited':
    case 'queue_limit_reached':
      return 429;
    case 'idempotency_key_reused':
      return 422;
    case 'idempotency_in_progress':
      return 409;
    case 'image_too_large':
    case 'payload_too_large':
      return 413;
    case 'unsupported_media_type':
      return 415;
    default:
      return err instanceof ValidationError ? 400 : 500;
  }
}

function withField(err: DarkroomError): string {
  if (!(err instanceof ValidationError) || !err.field) return err.message;
  const field = stabilityField(err.field);
  return err.message.startsWith(`${field}:`) ? err.message : `${field}: ${err.message}`;
}

export function toSeedAnswer(err: DarkroomError): { status: ContentfulStatusCode; body: { code: -1; message: string } } {
  const status = statusOf(err);
  const message =
    err.code === 'generation_failed' ? `generation failed: ${err.message} (not charged)` : err.code === 'timeout' ? `timeout: ${err.message} (not charged)` : withField(err);
  return { status, body: { code: -1, message } };
}

export function toV2Answer(err: DarkroomError, id: string): { status: ContentfulStatusCode; body: { id: string; name: string; errors: string[] } } {
  let status = statusOf(err);
  if (err instanceof ValidationError && status === 400 && err.code !== 'malformed' && !V2_FIELDS.has(stabilityField(err.field))) status = 422;
  const name = (() => {
    switch (status) {
      case 400:
        return 'bad_request';
      case 401:
        return 'unauthorized';
      case 402:
        return 'payment_required';
      case 403:
        return 'forbidden';
      case 404:
        return 'not_found';
      case 413:
        return 'payload_too_large';
      case 415:
        return 'unsupported_media_type';
      case 409:
        return 'conflict';
      case 422:
        return 'invalid_request';
      case 429:
        return 'rate_limit_exceeded';
      default:
        return 'internal_error';
    }
  })();
  const message = status === 500 && err.code !== 'generation_failed' && err.code !== 'timeout' ? 'an unexpected error occurred' : withField(err);
  return { status, body: { id, name, errors: [message] } };
}

const errorId = (c: Context<Env>) => (c.get('requestId') ?? '').replace(/-/g, '');

function setRateHeaders(c: Context<Env>, err: Error): void {
  if (err instanceof RateLimitedError) c.header('Retry-After', String(err.retryAfterSeconds));
}

export function seedErrorHandler(log: (message: string) => void) {
  return function stabilitySeedError(err: Error, c: Context<Env>): Response {
    if (err instanceof DarkroomError) {
      setRateHeaders(c, err);
      const { status, body } = toSeedAnswer(err);
      return c.json(body, status);
    }
    if (err instanceof HTTPException) return c.json({ code: -1, message: err.message || 'bad request' }, err.status as ContentfulStatusCode);
    log(`request ${c.get('requestId')} ${c.req.method} ${c.req.path} failed: ${err.stack ?? err.message}`);
    return c.json({ code: -1, message: `internal error (request id ${c.get('requestId')})` }, 500);
  };
}

export function v2ErrorHandler(log: (message: string) => void) {
  return function stabilityV2Error(err: Error, c: Context<Env>): Response {
    if (err instanceof DarkroomError) {
      setRateHeaders(c, err);
      const { status, body } = toV2Answer(err, errorId(c));
      return c.json(body, status);
    }
    if (err instanceof HTTPException) return c.json({ id: errorId(c), name: 'bad_request', errors: [err.message || 'bad request'] }, err.status as ContentfulStatusCode);
    log(`request ${c.get('requestId')} ${c.req.method} ${c.req.path} failed: ${err.stack ?? err.message}`);
    return c.json({ id: errorId(c), name: 'internal_error', errors: ['an unexpected error occurred'] }, 500);
  };
}
