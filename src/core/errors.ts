/**
 * Darkroom's one error hierarchy. Services throw these; each API dialect maps them onto its own
 * envelope and status in exactly one place (src/api/<dialect>/errors.ts). Every class has a stable
 * machine `code`; classification checks `code` (not only instanceof), so errors that crossed a
 * process boundary as plain objects still classify.
 */

export type ErrorCode =
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'validation'
  | 'malformed'
  | 'unknown_model'
  | 'unknown_scheduler'
  | 'invalid_image_url'
  | 'invalid_image'
  | 'image_too_large'
  | 'image_not_found'
  | 'image_not_owned'
  | 'output_not_found'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'insufficient_credits'
  | 'too_many_tokens'
  | 'queue_limit_reached'
  | 'rate_limited'
  | 'generation_failed'
  | 'timeout'
  | 'idempotency_key_reused'
  | 'idempotency_in_progress';

export abstract class DarkroomError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input, naming the field at fault (in Darkroom's own field names: width, steps, model, initImage...). */
export class ValidationError extends DarkroomError {
  readonly code: ErrorCode = 'validation';
  /** Every problem found, when there were several (the message names the first). */
  detail?: string;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** A body that is not JSON, or a field of the wrong type (Stablecog's json_parse_error). */
export class MalformedRequestError extends ValidationError {
  override readonly code = 'malformed' as const;
  constructor(field: string | undefined, message: string) {
    super(field ?? '', message);
  }
}

export class UnknownModelError extends ValidationError {
  override readonly code = 'unknown_model' as const;
  constructor(readonly model: string, available: readonly string[], field = 'model') {
    super(field, `unknown model "${model}"` + (available.length ? ` (available: ${available.join(', ')})` : ' (no models installed)'));
  }
}

export class UnknownSchedulerError extends ValidationError {
  override readonly code = 'unknown_scheduler' as const;
  constructor(readonly scheduler: string, allowed: readonly string[], field = 'scheduler') {
    super(field, `scheduler "${scheduler}" is not available for this model (available: ${allowed.join(', ')})`);
  }
}

/** An image reference that is not a URL Darkroom can read (scheme, syntax). */
export class InvalidImageUrlError extends ValidationError {
  override readonly code = 'invalid_image_url' as const;
}

/** Image bytes that do not decode, or whose size is out of bounds. */
export class InvalidImageError extends ValidationError {
  override readonly code = 'invalid_image' as const;
}

export class ImageTooLargeError extends ValidationError {
  override readonly code = 'image_too_large' as const;
}

export class ImageNotFoundError extends ValidationError {
  override readonly code = 'image_not_found' as const;
}

/** An uploaded image that belongs to someone else. */
export class ImageNotOwnedError extends ValidationError {
  override readonly code = 'image_not_owned' as const;
}

/** An output id that is not one of the caller's outputs (as input to an upscale). */
export class OutputNotFoundError extends ValidationError {
  override readonly code = 'output_not_found' as const;
}

export class UnauthorizedError extends DarkroomError {
  readonly code = 'unauthorized' as const;
  constructor(message = 'a valid API key is required (Authorization: Bearer <key>)') {
    super(message);
  }
}

export class ForbiddenError extends DarkroomError {
  readonly code = 'forbidden' as const;
}

export class NotFoundError extends DarkroomError {
  readonly code = 'not_found' as const;
  constructor(readonly resource: 'output' | 'generation' | 'token' | 'user' | 'upscale' | 'image' | 'route' | 'model', readonly id: string) {
    super(`${resource} ${id} not found`);
  }
}

export class ConflictError extends DarkroomError {
  readonly code = 'conflict' as const;
}

export class InsufficientCreditsError extends DarkroomError {
  readonly code = 'insufficient_credits' as const;
  constructor(
    readonly needed: number,
    readonly balance: number,
  ) {
    super(`this needs ${needed} credit${needed === 1 ? '' : 's'} and the balance is ${balance}`);
  }
}

export class TooManyTokensError extends DarkroomError {
  readonly code = 'too_many_tokens' as const;
  constructor(readonly max: number) {
    super(`You already have the maximum number of API tokens (${max})`);
  }
}

/** The per-user waiting line for generation slots is full. */
export class QueueLimitError extends DarkroomError {
  readonly code = 'queue_limit_reached' as const;
  constructor(readonly max: number) {
    super(`too many requests are already waiting for a generation slot (at most ${max})`);
  }
}

export class RateLimitedError extends DarkroomError {
  readonly code = 'rate_limited' as const;
  constructor(
    readonly retryAfterSeconds: number,
    readonly limit: number,
    readonly resetAt: number,
  ) {
    super(`rate limit of ${limit} requests per second exceeded; retry in ${retryAfterSeconds} s`);
  }
}

/** The worker could not make the images (credits for every missing image were refunded). */
export class GenerationFailedError extends DarkroomError {
  readonly code = 'generation_failed' as const;
}

/** No result within the configured time (the job was cancelled and refunded). */
export class GenerationTimeoutError extends DarkroomError {
  readonly code = 'timeout' as const;
  constructor(readonly seconds: number) {
    super(`no result within ${seconds} s`);
  }
}

/**
 * An Idempotency-Key sent again with a different request (method, path or body) than the one it
 * was first used for: nothing ran, nothing was charged (422, as the IETF Idempotency-Key draft says).
 */
export class IdempotencyKeyReusedError extends DarkroomError {
  readonly code = 'idempotency_key_reused' as const;
  constructor(readonly key: string) {
    super(`Idempotency-Key "${key}" was already used with a different request (method, path or body); use a new key for a new request`);
  }
}

/** The first request with this Idempotency-Key was still running when the wait for its answer ran out (409). */
export class IdempotencyInProgressError extends DarkroomError {
  readonly code = 'idempotency_in_progress' as const;
  constructor(readonly key: string) {
    super(`a request with Idempotency-Key "${key}" is still in progress; retry later to get its answer`);
  }
}

/** A request body over the route's limit (JSON, multipart); refused before more than the limit is read. */
export class PayloadTooLargeError extends DarkroomError {
  readonly code = 'payload_too_large' as const;
  constructor(
    readonly limitBytes: number,
    readonly kind: 'json' | 'multipart',
  ) {
    super(`the request body is over ${formatBytes(limitBytes)}, the limit for ${kind === 'json' ? 'JSON bodies' : 'multipart uploads'} on this route`);
  }
}

/** A body in a media type the route does not read (text/plain on a JSON route, for instance). */
export class UnsupportedMediaTypeError extends DarkroomError {
  readonly code = 'unsupported_media_type' as const;
  constructor(
    readonly given: string,
    readonly expected: string,
  ) {
    super(`Content-Type ${JSON.stringify(given)} is not supported here; send ${expected}`);
  }
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / 1024 / 1024} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

export function isDarkroomError(err: unknown): err is DarkroomError {
  return err instanceof DarkroomError;
}
