/**
 * The one place where Darkroom's errors become Stablecog's answers: `{"error": <Stablecog code or
 * message>, "field"?, "description"?, "settings"?}` with Stablecog's statuses
 * (reference/peer-apis.md §1.4 "Error response shape and status codes"). Darkroom adds `field`
 * (the request field at fault, in Stablecog's names) and `description` (what exactly was wrong).
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { DarkroomError, RateLimitedError, ValidationError, NotFoundError } from '../../core/errors.ts';
import type { Env } from '../env.ts';

/** Darkroom's field names → Stablecog's. Names not listed are the same in both. */
const FIELDS: Record<string, string> = {
  model: 'model_id',
  scheduler: 'scheduler_id',
  steps: 'inference_steps',
  guidance: 'guidance_scale',
  numOutputs: 'num_outputs',
  negativePrompt: 'negative_prompt',
  initImage: 'init_image_url',
  mask: 'mask_image_url',
  maskSource: 'mask_source',
  strength: 'prompt_strength',
};

export function stablecogField(field: string): string {
  return FIELDS[field] ?? field;
}

interface Answer {
  status: ContentfulStatusCode;
  body: { error: string; field?: string; description?: string };
}

function validationAnswer(err: ValidationError): Answer {
  const field = err.field ? stablecogField(err.field) : undefined;
  const description = err.detail ?? err.message;
  const code = (() => {
    switch (err.code) {
      case 'malformed':
        return 'json_parse_error';
      case 'unknown_model':
        return 'invalid_model_id';
      case 'unknown_scheduler':
        return 'invalid_scheduler_id';
      case 'invalid_image_url':
        return field === 'init_image_url' ? 'invalid_init_image_url' : 'invalid_image_url';
      case 'invalid_image':
        return field === 'file' ? 'invalid_file' : 'image_url_width_height_error';
      case 'image_too_large':
        return 'image_too_large';
      case 'image_not_found':
        return 'init_image_not_found';
      case 'image_not_owned':
        return 'init_image_not_owned';
      case 'output_not_found':
        return 'output_not_found';
      default:
        return err.message; // the schema's own Stablecog-worded message
    }
  })();
  return { status: err.code === 'image_not_owned' ? 401 : 400, body: { error: code, ...(field ? { field } : {}), description } };
}

export function toStablecogAnswer(err: DarkroomError): Answer {
  if (err instanceof ValidationError) return validationAnswer(err);
  switch (err.code) {
    case 'unauthorized':
      return { status: 401, body: { error: 'Unauthorized', description: err.message } };
    case 'forbidden':
      return { status: 403, body: { error: 'user_banned', description: err.message } };
    case 'not_found':
      return { status: 404, body: { error: `${(err as NotFoundError).resource}_not_found`, description: err.message } };
    case 'conflict':
      return { status: 409, body: { error: 'conflict', description: err.message } };
    case 'insufficient_credits':
      return { status: 400, body: { error: 'insufficient_credits', description: err.message } };
    case 'too_many_tokens':
      return { status: 400, body: { error: 'too_many_tokens', description: err.message } };
    case 'queue_limit_reached':
      return { status: 400, body: { error: 'queue_limit_reached', description: err.message } };
    case 'rate_limited':
      return { status: 429, body: { error: 'Too Many Requests', description: err.message } };
    case 'payload_too_large':
      return { status: 413, body: { error: 'payload_too_large', description: err.message } };
    case 'unsupported_media_type':
      return { status: 415, body: { error: 'unsupported_media_type', field: 'Content-Type', description: err.message } };
    case 'idempotency_key_reused':
      return { status: 422, body: { error: 'idempotency_key_reused', field: 'Idempotency-Key', description: err.message } };
    case 'idempotency_in_progress':
      return { status: 409, body: { error: 'idempotency_key_in_progress', field: 'Idempotency-Key', description: err.message } };
    case 'timeout':
      return { status: 500, body: { error: 'TIMEOUT', description: err.message } };
    case 'generation_failed':
      return { status: 500, body: { error: err.message } };
    default:
      return { status: 500, body: { error: 'An unknown error has occured' } };
  }
}

/** The Stablecog routes' error handler. Unknown errors: a generic 500, logged with the request id. */
export function stablecogErrorHandler(log: (message: string) => void) {
  return function stablecogError(err: Error, c: Context<Env>): Response {
    if (err instanceof DarkroomError) {
      const { status, body } = toStablecogAnswer(err);
      if (err instanceof RateLimitedError) {
        c.header('Retry-After', String(err.retryAfterSeconds));
        c.header('X-RateLimit-Limit', String(err.limit));
        c.header('X-RateLimit-Remaining', '0');
        c.header('X-RateLimit-Reset', String(err.resetAt));
      }
      const settings = c.get('errorSettings');
      // Stablecog echoes the settings once validation has passed (credits, queue, worker failures).
      const withSettings = settings !== undefined && !(err instanceof ValidationError) && status !== 401 && status !== 429;
      return c.json(withSettings ? { ...body, settings } : body, status);
    }
    if (err instanceof HTTPException) return c.json({ error: err.message || 'bad request' }, err.status as ContentfulStatusCode);
    const requestId = c.get('requestId');
    log(`request ${requestId} ${c.req.method} ${c.req.path} failed: ${err.stack ?? err.message}`);
    return c.json({ error: 'An unknown error has occured', description: `request id ${requestId}` }, 500);
  };
}
