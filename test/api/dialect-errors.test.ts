/** The one mapping per dialect from Darkroom's errors to its envelope and statuses (Stability's two, OpenAI's, Leonardo's). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GenerationFailedError,
  GenerationTimeoutError,
  ImageTooLargeError,
  InsufficientCreditsError,
  InvalidImageError,
  MalformedRequestError,
  NotFoundError,
  QueueLimitError,
  RateLimitedError,
  UnauthorizedError,
  UnknownModelError,
  ValidationError,
} from '../../src/core/errors.ts';
import { toSeedAnswer, toV2Answer } from '../../src/api/stability/errors.ts';
import { toOpenAIAnswer } from '../../src/api/openai/errors.ts';
import { toLeonardoAnswer } from '../../src/api/leonardo/errors.ts';

const v2: [string, Error, number, string, RegExp?][] = [
  ['a form field', new ValidationError('seed', 'seed: must be between 0 and 4294967294'), 400, 'bad_request', /^seed: /],
  ['wrong type', new MalformedRequestError('seed', 'seed: must be an integer'), 400, 'bad_request', /^seed: /],
  ['not multipart', new MalformedRequestError(undefined, 'the request must be multipart/form-data'), 400, 'bad_request'],
  ["the model's limits (not a form field)", new ValidationError('width', 'width must be between 32 and 256 for model x'), 422, 'invalid_request', /^width: /],
  ['unknown model', new UnknownModelError('x', ['a']), 422, 'invalid_request'],
  ['key', new UnauthorizedError(), 401, 'unauthorized'],
  ['credits', new InsufficientCreditsError(3, 1), 402, 'payment_required'],
  ['too large', new ImageTooLargeError('', 'the request is over 10 MiB'), 413, 'payload_too_large'],
  ['rate limit', new RateLimitedError(1, 5, 0), 429, 'rate_limit_exceeded'],
  ['waiting line', new QueueLimitError(50), 429, 'rate_limit_exceeded'],
  ['worker failure', new GenerationFailedError('boom'), 500, 'internal_error', /boom/],
  ['timeout', new GenerationTimeoutError(240), 500, 'internal_error'],
];
for (const [name, err, status, errName, message] of v2) {
  test(`Stability v2beta, ${name}: ${status} ${errName}`, () => {
    const a = toV2Answer(err as never, 'f'.repeat(32));
    assert.equal(a.status, status);
    assert.equal(a.body.name, errName);
    assert.equal(a.body.id, 'f'.repeat(32));
    assert.equal(a.body.errors.length, 1);
    if (message) assert.match(a.body.errors[0]!, message);
  });
}

const seed: [string, Error, number, RegExp][] = [
  ['a field', new ValidationError('width', 'width: must be a multiple of 64'), 400, /^width: must be a multiple of 64$/],
  ['a core field is prefixed with its wire name', new ValidationError('negativePrompt', 'too long'), 400, /^negative_prompt: too long$/],
  ['key', new UnauthorizedError(), 401, /API key/],
  ['credits', new InsufficientCreditsError(6, 5), 402, /needs 6 credits/],
  ['rate limit', new RateLimitedError(1, 5, 0), 429, /rate limit/],
  ['failure', new GenerationFailedError('boom'), 500, /boom.*not charged/],
  ['timeout', new GenerationTimeoutError(240), 500, /timeout.*not charged/],
];
for (const [name, err, status, message] of seed) {
  test(`seed 002 /api/generate/core, ${name}: ${status}`, () => {
    const a = toSeedAnswer(err as never);
    assert.equal(a.status, status);
    assert.equal(a.body.code, -1);
    assert.match(a.body.message, message);
  });
}

const openai: [string, Error, number, string, string | null, string | null][] = [
  ['size', new ValidationError('width', 'width must be a multiple of 8'), 400, 'invalid_request_error', 'size', 'invalid_value'],
  ['n', new ValidationError('numOutputs', 'too many'), 400, 'invalid_request_error', 'n', 'invalid_value'],
  ['a wire field', new ValidationError('response_format', 'bad'), 400, 'invalid_request_error', 'response_format', 'invalid_value'],
  ['not JSON', new MalformedRequestError(undefined, 'Unexpected end'), 400, 'invalid_request_error', null, null],
  ['wrong type', new MalformedRequestError('n', "Invalid type for 'n'"), 400, 'invalid_request_error', 'n', 'invalid_type'],
  ['unknown model', new UnknownModelError('x', []), 400, 'invalid_request_error', 'model', 'model_not_found'],
  ['bad image', new InvalidImageError('initImage', 'not an image'), 400, 'invalid_request_error', 'image', 'invalid_image'],
  ['bad mask', new InvalidImageError('mask', 'no alpha'), 400, 'invalid_request_error', 'mask', 'invalid_image'],
  ['big image', new ImageTooLargeError('initImage', 'over 10 MB'), 400, 'invalid_request_error', 'image', 'image_too_large'],
  ['key', new UnauthorizedError(), 401, 'invalid_request_error', null, 'invalid_api_key'],
  ['credits', new InsufficientCreditsError(2, 1), 429, 'insufficient_quota', null, 'insufficient_quota'],
  ['rate limit', new RateLimitedError(1, 5, 0), 429, 'requests', null, 'rate_limit_exceeded'],
  ['waiting line', new QueueLimitError(50), 429, 'requests', null, 'rate_limit_exceeded'],
  ['not found', new NotFoundError('generation', 'x'), 404, 'invalid_request_error', null, null],
  ['failure', new GenerationFailedError('boom'), 500, 'server_error', null, null],
  ['timeout', new GenerationTimeoutError(240), 500, 'server_error', null, 'timeout'],
];
for (const [name, err, status, type, param, code] of openai) {
  test(`OpenAI, ${name}: ${status} ${type}`, () => {
    const a = toOpenAIAnswer(err as never);
    assert.equal(a.status, status);
    assert.equal(a.body.error.type, type);
    assert.equal(a.body.error.param, param);
    assert.equal(a.body.error.code, code);
    assert.equal(typeof a.body.error.message, 'string');
  });
}

const leonardo: [string, Error, number, string, RegExp][] = [
  ['a wire field', new ValidationError('num_images', 'num_images: must be between 1 and 8'), 400, 'unexpected', /^num_images: must be between 1 and 8$/],
  ['a core field in its wire name', new ValidationError('steps', 'model x takes at most 8 steps'), 400, 'unexpected', /^num_inference_steps: model x/],
  ['unknown model', new UnknownModelError('x', []), 400, 'unexpected', /^modelId: unknown model/],
  ['not JSON', new MalformedRequestError(undefined, 'the request body is not valid JSON'), 400, 'parse-failed', /not valid JSON/],
  ['key', new UnauthorizedError(), 401, 'access-denied', /^Authentication hook unauthorized this request/],
  ['credits', new InsufficientCreditsError(4, 1), 400, 'unexpected', /^Not enough API tokens/],
  ['rate limit', new RateLimitedError(1, 5, 0), 429, 'too-many-requests', /rate limit/],
  ['not found', new NotFoundError('generation', 'x'), 404, 'not-found', /not found/],
  ['failure', new GenerationFailedError('boom'), 500, 'unexpected', /boom/],
];
for (const [name, err, status, code, message] of leonardo) {
  test(`Leonardo, ${name}: ${status} ${code}`, () => {
    const a = toLeonardoAnswer(err as never);
    assert.equal(a.status, status);
    assert.equal(a.body.path, '$');
    assert.equal(a.body.code, code);
    assert.match(a.body.error, message);
  });
}
