/**
 * The one place where Darkroom's errors become Leonardo's answers (Hasura style, reference/peer-apis.md
 * §2.8): `{"error": <message>, "path": "$", "code": <kind>}`. Bad input is 400 with the message
 * starting with the field in Leonardo's wire names; a bad key 401 with Leonardo's own words.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { DarkroomError, RateLimitedError, ValidationError } from '../../core/errors.ts';
import type { Env } from '../env.ts';

/** Darkroom's field names → Leonardo's wire names. */
const FIELDS: Record<string, string> = {
  model: 'modelId',
  numOutputs: 'num_images',
  steps: 'num_inference_steps',
  guidance: 'guidance_scale',
  negativePrompt: 'negative_prompt',
  initImage: 'init_image_id',
  strength: 'init_strength',
  hires: 'highResolution',
  'hires.scale': 'upscaleRatio',
  loras: 'elements',
};

export function leonardoField(field: string): string {
  return FIELDS[field] ?? field;
}

export interface LeonardoErrorBody {
  error: string;
  path: '$';
  code: string;
}

export function toLeonardoAnswer(err: DarkroomError): { status: ContentfulStatusCode; body: LeonardoErrorBody } {
  const body = (error: string, code: string): LeonardoErrorBody => ({ error, path: '$', code });
  if (err instanceof ValidationError) {
    const field = err.field ? leonardoField(err.field) : '';
    const message = !field || err.message.startsWith(`${field}:`) ? err.message : `${field}: ${err.message}`;
    return { status: 400, body: body(message, err.code === 'malformed' ? 'parse-failed' : 'unexpected') };
  }
  switch (err.code) {
    case 'unauthorized':
      return { status: 401, body: body(`Authentication hook unauthorized this request: ${err.message}`, 'access-denied') };
    case 'forbidden':
      return { status: 403, body: body(err.message, 'access-denied') };
    case 'not_found':
      return { status: 404, body: body(err.message, 'not-found') };
    case 'payload_too_large':
      return { status: 413, body: body(err.message, 'payload-too-large') };
    case 'unsupported_media_type':
      return { status: 415, body: body(err.message, 'unsupported-media-type') };
    case 'idempotency_key_reused':
      return { status: 422, body: body(err.message, 'idempotency-key-reused') };
    case 'idempotency_in_progress':
      return { status: 409, body: body(err.message, 'idempotency-key-in-progress') };
    case 'insufficient_credits':
      return { status: 400, body: body(`Not enough API tokens for this request: ${err.message}`, 'unexpected') };
    case 'rate_limited':
    case 'queue_limit_reached':
      return { status: 429, body: body(err.message, 'too-many-requests') };
    case 'generation_failed':
    case 'timeout':
      return { status: 500, body: body(err.message, 'unexpected') };
    default:
      return { status: 500, body: body('unexpected error', 'unexpected') };
  }
}

export function leonardoErrorHandler(log: (message: string) => void) {
  return function leonardoError(err: Error, c: Context<Env>): Response {
    if (err instanceof DarkroomError) {
      if (err instanceof RateLimitedError) c.header('Retry-After', String(err.retryAfterSeconds));
      const { status, body } = toLeonardoAnswer(err);
      return c.json(body, status);
    }
    if (err instanceof HTTPException) return c.json({ error: err.message || 'bad request', path: '$', code: 'unexpected' }, err.status as ContentfulStatusCode);
    const requestId = c.get('requestId');
    log(`request ${requestId} ${c.req.method} ${c.req.path} failed: ${err.stack ?? err.message}`);
    return c.json({ error: `unexpected error (request id ${requestId})`, path: '$', code: 'unexpected' }, 500);
  };
}
