/** The one mapping from Darkroom's errors to Stablecog's envelope and statuses. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GenerationFailedError,
  GenerationTimeoutError,
  ImageNotFoundError,
  ImageNotOwnedError,
  ImageTooLargeError,
  InsufficientCreditsError,
  InvalidImageError,
  InvalidImageUrlError,
  MalformedRequestError,
  NotFoundError,
  OutputNotFoundError,
  QueueLimitError,
  RateLimitedError,
  TooManyTokensError,
  UnauthorizedError,
  UnknownModelError,
  UnknownSchedulerError,
  ValidationError,
} from '../../src/core/errors.ts';
import { toStablecogAnswer } from '../../src/api/stablecog/errors.ts';

const cases: [string, Error, number, string, string?][] = [
  ['schema message', new ValidationError('width', 'Width is too small, min is: 256'), 400, 'Width is too small, min is: 256', 'width'],
  ['core field names become Stablecog names', new ValidationError('steps', 'model x takes at most 8 steps'), 400, 'model x takes at most 8 steps', 'inference_steps'],
  ['bad JSON', new MalformedRequestError(undefined, 'not JSON'), 400, 'json_parse_error'],
  ['wrong type', new MalformedRequestError('width', 'width must be a number'), 400, 'json_parse_error', 'width'],
  ['unknown model', new UnknownModelError('x', []), 400, 'invalid_model_id', 'model_id'],
  ['unknown scheduler', new UnknownSchedulerError('x', []), 400, 'invalid_scheduler_id', 'scheduler_id'],
  ['init image URL', new InvalidImageUrlError('initImage', 'bad scheme'), 400, 'invalid_init_image_url', 'init_image_url'],
  ['upscale input URL', new InvalidImageUrlError('input', 'bad scheme'), 400, 'invalid_image_url', 'input'],
  ['undecodable image', new InvalidImageError('initImage', 'not an image'), 400, 'image_url_width_height_error', 'init_image_url'],
  ['bad upload', new InvalidImageError('file', 'not an image'), 400, 'invalid_file', 'file'],
  ['too large', new ImageTooLargeError('file', 'over 10 MB'), 400, 'image_too_large', 'file'],
  ['upload not found', new ImageNotFoundError('initImage', 'no upload'), 400, 'init_image_not_found', 'init_image_url'],
  ["someone else's upload", new ImageNotOwnedError('initImage', 'not yours'), 401, 'init_image_not_owned', 'init_image_url'],
  ['output not found', new OutputNotFoundError('input', 'no output'), 400, 'output_not_found', 'input'],
  ['no key', new UnauthorizedError(), 401, 'Unauthorized'],
  ['credits', new InsufficientCreditsError(2, 1), 400, 'insufficient_credits'],
  ['11th key', new TooManyTokensError(10), 400, 'too_many_tokens'],
  ['waiting line full', new QueueLimitError(50), 400, 'queue_limit_reached'],
  ['rate limit', new RateLimitedError(1, 5, 0), 429, 'Too Many Requests'],
  ['timeout', new GenerationTimeoutError(240), 500, 'TIMEOUT'],
  ['worker failure', new GenerationFailedError('the engine broke'), 500, 'the engine broke'],
  ['unknown token', new NotFoundError('token', 'x'), 404, 'token_not_found'],
];

for (const [name, err, status, error, field] of cases) {
  test(`${name}: ${status} ${error}`, () => {
    const answer = toStablecogAnswer(err as never);
    assert.equal(answer.status, status);
    assert.equal(answer.body.error, error);
    assert.equal(answer.body.field, field);
  });
}
