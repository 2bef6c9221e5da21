/**
 * A path no route serves answers 404 in the envelope of the dialect whose prefix it is under
 * (Leonardo's /api/rest/v1, Stability's /v2beta and /api/generate, OpenAI's /v1/images and /v1/models), and in
 * Stablecog's everywhere else, so a client's error handling sees the shape it was written for.
 */
import type { Context } from 'hono';
import { NotFoundError } from '../core/errors.ts';
import type { Env } from './env.ts';
import { toLeonardoAnswer } from './leonardo/errors.ts';
import { toOpenAIAnswer } from './openai/errors.ts';
import { toSeedAnswer, toV2Answer } from './stability/errors.ts';

const under = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}/`);

export function notFoundInDialect(c: Context<Env>): Response {
  const { method, path } = c.req;
  const err = new NotFoundError('route', `${method} ${path}`);
  if (under(path, '/api/rest/v1')) {
    const { status, body } = toLeonardoAnswer(err);
    return c.json(body, status);
  }
  if (under(path, '/v2beta')) {
    const { status, body } = toV2Answer(err, (c.get('requestId') ?? '').replace(/-/g, ''));
    return c.json(body, status);
  }
  if (under(path, '/api/generate')) {
    const { status, body } = toSeedAnswer(err);
    return c.json(body, status);
  }
  if (under(path, '/v1/images') || under(path, '/v1/models')) {
    const { status, body } = toOpenAIAnswer(err);
    return c.json(body, status);
  }
  return c.json({ error: 'not_found', description: `no route ${method} ${path}; see /docs` }, 404);
}
