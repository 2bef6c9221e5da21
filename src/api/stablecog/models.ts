/** Model and default-settings discovery (no key needed), with Stablecog's paths and their aliases. */
import { createRoute } from '@hono/zod-openapi';
import { modelLimits, narrow, type CatalogModel } from '../../core/models.ts';
import type { ApiServices } from '../env.ts';
import type { Mount } from '../route.ts';
import { defaultsFor, LIMITS } from './defaults.ts';
import { publicErrorResponses } from './openapi.ts';
import { stablecogScheduler } from './schedulers.ts';
import { GenerationDefaultsResponse, GenerationModelsResponse, UpscaleDefaultsResponse, UpscaleModelsResponse } from './schemas.ts';

function limitsOf(model: CatalogModel) {
  const m = modelLimits(model);
  const side = { min: LIMITS.minSize, max: LIMITS.maxSize };
  return {
    width: narrow(side, m.width),
    height: narrow(side, m.height),
    inference_steps: narrow({ min: LIMITS.minSteps, max: LIMITS.maxSteps }, m.steps),
    guidance_scale: narrow({ min: LIMITS.minGuidance, max: LIMITS.maxGuidance }, m.guidance),
    num_outputs: narrow({ min: LIMITS.minOutputs, max: LIMITS.maxOutputs }, m.outputs),
  };
}

/** A model as GET /v1/image/generation/models lists it. */
function listedModel(m: CatalogModel) {
  const d = defaultsFor(m);
  return {
    id: m.uuid,
    name: m.name,
    is_default: m.isDefault,
    available_schedulers: m.manifest.schedulers.map(stablecogScheduler),
    default_width: d.width,
    default_height: d.height,
    ...(m.description ? { description: m.description } : {}),
    darkroom_id: m.id,
    image_to_image: m.imageToImage,
    controlnets: m.controlNets,
    darkroom_limits: limitsOf(m),
  };
}

/**
 * The listing, made once per catalog listing (the catalog hands out the same array until the model
 * folders are read again): unknown schedulers' v5 UUIDs (SHA-1) were most of this route's cost.
 */
const listings = new WeakMap<readonly CatalogModel[], ReturnType<typeof listedModel>[]>();
function listing(models: readonly CatalogModel[]): ReturnType<typeof listedModel>[] {
  let listed = listings.get(models);
  if (!listed) listings.set(models, (listed = models.map(listedModel)));
  return listed;
}

const ok = <S>(description: string, schema: S) => ({ 200: { description, content: { 'application/json': { schema } } }, ...publicErrorResponses });

export function registerModels(mount: Mount, services: ApiServices): void {
  const { catalog, upscales } = services;

  mount(
    createRoute({
      method: 'get',
      path: '/v1/image/generation/models',
      operationId: 'listGenerationModels',
      tags: ['Models'],
      summary: 'Generation models with their schedulers',
      responses: ok(
        'Every installed model, its schedulers (Stablecog ids where Stablecog has them), default size and, in darkroom_limits, the ranges a create request may ask of it.',
        GenerationModelsResponse,
      ),
    }),
    async (c) => {
      return c.json({ models: listing(await catalog.list()) }, 200);
    },
    { aliases: ['/v1/image/models/generate'] },
  );

  mount(
    createRoute({
      method: 'get',
      path: '/v1/image/generation/defaults',
      operationId: 'getGenerationDefaults',
      tags: ['Models'],
      summary: 'Default generation settings',
      responses: ok('What a request that names nothing but the prompt gets.', GenerationDefaultsResponse),
    }),
    async (c) => {
      const model = await catalog.default();
      const d = defaultsFor(model);
      return c.json(
        {
          model_id: model.uuid,
          scheduler_id: stablecogScheduler(model.manifest.defaults.scheduler).id,
          width: d.width,
          height: d.height,
          num_outputs: d.numOutputs,
          guidance_scale: d.guidanceScale,
          inference_steps: d.inferenceSteps,
          prompt_strength: d.promptStrength,
          prompt_strengtht: d.promptStrength,
        },
        200,
      );
    },
    { aliases: ['/v1/image/defaults/generate'] },
  );

  mount(
    createRoute({
      method: 'get',
      path: '/v1/image/upscale/models',
      operationId: 'listUpscaleModels',
      tags: ['Models'],
      summary: 'Upscale models',
      responses: ok('The upscalers. kind "resample" is plain resampling, not a super-resolution model.', UpscaleModelsResponse),
    }),
    async (c) =>
      c.json(
        {
          models: (await upscales.models()).map((m) => ({ id: m.uuid, name: m.name, is_default: m.isDefault, description: m.description, kind: m.kind, scale: m.scale })),
        },
        200,
      ),
    { aliases: ['/v1/image/models/upscale'] },
  );

  mount(
    createRoute({
      method: 'get',
      path: '/v1/image/upscale/defaults',
      operationId: 'getUpscaleDefaults',
      tags: ['Models'],
      summary: 'Default upscale settings',
      responses: ok('The default upscaler.', UpscaleDefaultsResponse),
    }),
    async (c) => c.json({ model_id: (await upscales.resolveModel(undefined)).uuid }, 200),
    { aliases: ['/v1/image/defaults/upscale'] },
  );
}
