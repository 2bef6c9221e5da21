/**
 * The one place where Darkroom's errors become OpenAI's answers:
 * `{"error": {"message", "type", "param", "code"}}` with 400 (bad input, `param` naming the field in
 * OpenAI's names), 401 (key), 429 (rate limit, waiting line, credits: OpenAI's insufficient_quota)
 * and 500 (the generation failed or timed out; refunded).
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { DarkroomError, NotFoundError, RateLimitedError, ValidationError } from '../../core/errors.ts';
import type { Env } from '../env.ts';

/** Darkroom's field names → OpenAI's parameters. */
const PARAMS: Record<string, string> = {
  width: 'size',
  height: 'size',
  numOutputs: 'n',
  model: 'model',
  initImage: 'image',
  strength: 'image',
  mask: 'mask',
  negativePrompt: 'prompt',
  steps: 'model',
  scheduler: 'model',
  guidance: 'model',
  tiling: 'model',
};

export function openaiParam(field: string): string | null {
  if (!field) return null;
  return PARAMS[field] ?? field;
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

interface Answer {
  status: ContentfulStatusCode;
  body: OpenAIErrorBody;
}

const answer = (status: ContentfulStatusCode, message: string, type: string, param: string | null, code: string | null): Answer => ({
  status,
  body: { error: { message, type, param, code } },
});

function validationAnswer(err: ValidationError): Answer {
  const param = openaiParam(err.field);
  switch (err.code) {
    case 'malformed':
      return err.field
        ? answer(400, err.message, 'invalid_request_error', param, 'invalid_type')
        : answer(400, `We could not parse the JSON body of your request. (${err.message})`, 'invalid_request_error', null, null);
    case 'unknown_model':
      return answer(400, err.message, 'invalid_request_error', param, 'model_not_found');
    case 'invalid_image':
    case 'invalid_image_url':
    case 'image_not_found':
    case 'image_not_owned':
      return answer(400, err.message, 'invalid_request_error', param, 'invalid_image');
    case 'image_too_large':
      return answer(400, err.message, 'invalid_request_error', param, 'image_too_large');
    default:
      return answer(400, err.message, 'invalid_request_error', param, 'invalid_value');
  }
}

export function toOpenAIAnswer(err: DarkroomError): Answer {
  if (err instanceof ValidationError) return validationAnswer(err);
  switch (err.code) {
    case 'unauthorized':
      return answer(401, `Incorrect API key provided or none given: ${err.message}`, 'invalid_request_error', null, 'invalid_api_key');
    case 'forbidden':
      return answer(403, err.message, 'invalid_request_error', null, null);
    case 'not_found':
      if (err instanceof NotFoundError && err.resource === 'model') return answer(404, `The model '${err.id}' does not exist.`, 'invalid_request_error', 'model', 'model_not_found');
      return answer(404, err.message, 'invalid_request_error', null, null);
    case 'payload_too_large':
      return answer(413, `Request too large: ${err.message}.`, 'invalid_request_error', null, 'payload_too_large');
    case 'unsupported_media_type':
      return answer(415, `Unsupported Content-Type: ${err.message}.`, 'invalid_request_error', null, 'unsupported_media_type');
    case 'idempotency_key_reused':
      return answer(422, err.message, 'invalid_request_error', null, 'idempotency_key_reused');
    case 'idempotency_in_progress':
      return answer(409, err.message, 'invalid_request_error', null, 'idempotency_key_in_progress');
    case 'insufficient_credits':
      return answer(429, `You exceeded your current quota: ${err.message}.`, 'insufficient_quota', null, 'insufficient_quota');
    case 'rate_limited':
      return answer(429, `Rate limit reached: ${err.message}.`, 'requests', null, 'rate_limit_exceeded');
    case 'queue_limit_reached':
      return answer(429, `Too many requests in flight: ${err.message}.`, 'requests', null, 'rate_limit_exceeded');
    case 'timeout':
      return answer(500, `The image generation timed out (${err.message}); nothing was charged.`, 'server_error', null, 'timeout');
    case 'generation_failed':
      return answer(500, `The image generation failed: ${err.message}. Nothing was charged.`, 'server_error', null, null);
    default:
      return answer(500, 'The server had an error while processing your request.', 'server_error', null, null);
  }
}

/** Every image the model's safety checker flagged: OpenAI's answer when its safety system rejects images (they were made, so charged). */
export const CONTENT_POLICY_VIOLATION: OpenAIErrorBody = answer(
  400,
  "Your request was rejected as a result of our safety system: the model's safety checker flagged every image made.",
  'image_generation_user_error',
  null,
  'content_policy_violation',
).body;

export function openaiErrorHandler(log: (message: string) => void) {
  return function openaiError(err: Error, c: Context<Env>): Response {
    if (err instanceof DarkroomError) {
      const { status, body } = toOpenAIAnswer(err);
      if (err instanceof RateLimitedError) c.header('Retry-After', String(err.retryAfterSeconds));
      return c.json(body, status);
    }
    if (err instanceof HTTPException) {
      return c.json(answer(err.status as ContentfulStatusCode, err.message || 'bad request', 'invalid_request_error', null, null).body, err.status as ContentfulStatusCode);
    }
    const requestId = c.get('requestId');
    log(`request ${requestId} ${c.req.method} ${c.req.path} failed: ${err.stack ?? err.message}`);
    return c.json(answer(500, `The server had an error while processing your request (request id ${requestId}).`, 'server_error', null, null).body, 500);
  };
}
