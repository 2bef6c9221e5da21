/**
 * OpenAI's Models API: GET /v1/models lists the installed image models, GET /v1/models/{id} names
 * one (404 model_not_found otherwise), as OpenAI-compatible servers do, so clients that list models
 * before using one (and the SDK's `client.models`) work. Authenticated like the Images routes.
 */
import { createRoute } from '@hono/zod-openapi';
import { modelLimits, narrow, type CatalogModel } from '../../core/models.ts';
import { NotFoundError } from '../../core/errors.ts';
import type { ApiServices } from '../env.ts';
import type { Mount } from '../route.ts';
import { MAX_N, ModelIdParams, OpenAIError, OpenAIModel, OpenAIModelList } from './schemas.ts';

/** Models have no date of their own: `created` is when this process started, stable between calls. */
const STARTED = Math.floor(Date.now() / 1000);
export const MODEL_OWNER = 'darkroom';

const secured = { security: [{ bearer: [] }] };
const errorJson = { 'application/json': { schema: OpenAIError } } as const;
const common = {
  401: { description: 'Missing or unknown API key (invalid_api_key).', content: errorJson },
  429: { description: 'Rate limit (rate_limit_exceeded, see Retry-After).', content: errorJson },
} as const;

function shape(m: CatalogModel) {
  const limits = modelLimits(m);
  return {
    id: m.id,
    object: 'model' as const,
    created: STARTED,
    owned_by: MODEL_OWNER,
    darkroom_limits: {
      width: limits.width,
      height: limits.height,
      n: narrow({ min: 1, max: MAX_N }, limits.outputs),
      default_size: `${m.manifest.defaults.width}x${m.manifest.defaults.height}`,
    },
  };
}

export function registerModels(mount: Mount, services: ApiServices): void {
  mount(
    createRoute({
      method: 'get',
      path: '/v1/models',
      operationId: 'openaiListModels',
      tags: ['OpenAI'],
      summary: 'List the models (OpenAI Models API)',
      description: "Every installed image model; `id` is what `model` takes in /v1/images requests, and darkroom_limits what `size` and `n` may ask of it.",
      ...secured,
      responses: { 200: { description: 'The models.', content: { 'application/json': { schema: OpenAIModelList } } }, ...common },
    }),
    async (c) => c.json({ object: 'list' as const, data: (await services.catalog.list()).map(shape) }, 200),
  );

  mount(
    createRoute({
      method: 'get',
      path: '/v1/models/{id}',
      operationId: 'openaiRetrieveModel',
      tags: ['OpenAI'],
      summary: 'One model (OpenAI Models API)',
      ...secured,
      request: { params: ModelIdParams },
      responses: {
        200: { description: 'The model.', content: { 'application/json': { schema: OpenAIModel } } },
        404: { description: 'No installed model has this id (model_not_found).', content: errorJson },
        ...common,
      },
    }),
    async (c, { params }) => {
      const model = (await services.catalog.list()).find((m) => m.id === params.id);
      if (!model) throw new NotFoundError('model', params.id);
      return c.json(shape(model), 200);
    },
  );
}
