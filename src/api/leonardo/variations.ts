/**
 * Leonardo's variations of a generated image (reference/peer-apis.md §2.5): POST /variations/upscale
 * runs Darkroom's default upscaler on one of the caller's generated images as an upscale job
 * (asynchronous: answered with the job, one credit, refunded if it fails; an image upscaled before
 * answers its earlier upscale at no charge); POST /variations/unzoom and
 * /variations/universal-upscaler are generation jobs linked to the image (core/variations.ts); GET
 * /variations/{id} reads any of them back, and GET /generations/{id} lists each image's variations
 * as its generated_image_variation_generics.
 */
import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ValidationError } from '../../core/errors.ts';
import { FLAT_PRICES } from '../../core/pricing.ts';
import { CREATIVITY, DEFAULT_UNZOOM_AMOUNT, TRANSFORM_UNZOOM, UPSCALE_MULTIPLIER, Variations } from '../../core/variations.ts';
import type { Generation, GenerationOutput, Upscale } from '../../db/schema.ts';
import type { ApiServices, ApiOptions, Env } from '../env.ts';
import type { Mount } from '../route.ts';
import { baseUrl, imageUrl } from '../urls.ts';
import { errorResponses, secured } from './openapi.ts';
import { IdParam } from './schemas.ts';
import {
  UniversalUpscalerInput,
  UniversalUpscalerJob,
  UnzoomVariationInput,
  UnzoomVariationJob,
  UpscaleVariationInput,
  UpscaleVariationJob,
  VariationById,
  type VariationGeneric,
} from './variation-schemas.ts';
import { jobStatus, type LeonardoExtra } from './wire.ts';

export function variationGeneric(up: Upscale, url: (key: string) => string): VariationGeneric {
  return { id: up.id, createdAt: up.created_at, status: jobStatus(up.status), transformType: 'UPSCALE', url: up.image_key ? url(up.image_key) : null };
}

/**
 * A variation that is a generation, with its image once made. Leonardo's transformType has no value
 * for the universal upscaler (the SDK refuses any other), so it is answered as the upscale it is.
 */
export function generatedVariationGeneric(gen: Generation, output: GenerationOutput | undefined, url: (key: string) => string): VariationGeneric {
  const transformType = gen.transform_type === TRANSFORM_UNZOOM ? 'UNZOOM' : 'UPSCALE';
  return { id: gen.id, createdAt: gen.created_at, status: jobStatus(gen.status), transformType, url: output ? url(output.image_key) : null };
}

/** Options the universal upscaler does not serve: refused rather than ignored. */
const UNSERVED_UPSCALER_OPTIONS = ['initImageId', 'ultraUpscaleStyle', 'detailContrast', 'similarity'] as const;

export function registerVariations(mount: Mount, services: ApiServices, options: ApiOptions): void {
  const { upscales, imageAccess, generations } = services;
  const url = (c: Context<Env>) => (key: string) => imageUrl(c, options.publicUrl, imageAccess, key);
  const variations = new Variations({
    generations,
    images: services.images,
    store: services.store,
    upscalers: { list: async () => (await upscales.models()).map((info) => ({ info })) },
  });
  const jobOptions = (c: Context<Env>, prompt: string) => ({
    source: 'api',
    requestId: c.get('requestId'),
    dialect: 'leonardo',
    extra: { prompt, baseUrl: baseUrl(c, options.publicUrl) } satisfies LeonardoExtra,
  });
  const credits = (cost: number) => ({ apiCreditCost: cost, cost: { amount: String(cost), unit: 'CREDITS' as const } });

  mount(
    createRoute({
      method: 'post',
      path: '/api/rest/v1/variations/upscale',
      operationId: 'leonardoCreateVariationUpscale',
      tags: ['Leonardo'],
      summary: 'Upscale a generated image (asynchronous)',
      description:
        "Runs Darkroom's default upscaler (GET /v1/upscale/models) on one of your generated images; poll GET /variations/{id}. One credit, refunded if it fails; an image upscaled before answers that upscale, at no charge.",
      ...secured,
      request: { body: { required: true, content: { 'application/json': { schema: UpscaleVariationInput } } } },
      responses: { 200: { description: 'The job.', content: { 'application/json': { schema: UpscaleVariationJob } } }, ...errorResponses },
    }),
    async (c, { body }) => {
      const { upscale, cost } = await upscales.start(c.get('auth'), body.id, { source: 'api', requestId: c.get('requestId') });
      return c.json({ sdUpscaleJob: { id: upscale.id, apiCreditCost: cost, cost: { amount: String(cost), unit: 'CREDITS' as const } } }, 200);
    },
  );

  mount(
    createRoute({
      method: 'post',
      path: '/api/rest/v1/variations/unzoom',
      operationId: 'leonardoCreateVariationUnzoom',
      tags: ['Leonardo'],
      summary: 'Unzoom a generated image (asynchronous)',
      description:
        `Shows one of your generated images from further away at the same size: the image is shrunk by 1 / (1 + ${DEFAULT_UNZOOM_AMOUNT}) and centred, ` +
        "and the border is painted by inpainting with the image's own prompt, settings and seed. Poll GET /variations/{id}. " +
        `${FLAT_PRICES.unzoom} credit, refunded if it fails.`,
      ...secured,
      request: { body: { required: true, content: { 'application/json': { schema: UnzoomVariationInput } } } },
      responses: { 200: { description: 'The job.', content: { 'application/json': { schema: UnzoomVariationJob } } }, ...errorResponses },
    }),
    async (c, { body }) => {
      const auth = c.get('auth');
      const source = await variations.source(auth, body.id, 'id', body.isVariation ?? false);
      const gen = await variations.unzoom(auth, source, DEFAULT_UNZOOM_AMOUNT, jobOptions(c, source.generation.prompt));
      return c.json({ sdUnzoomJob: { id: gen.id, ...credits(gen.cost) } }, 200);
    },
  );

  mount(
    createRoute({
      method: 'post',
      path: '/api/rest/v1/variations/universal-upscaler',
      operationId: 'leonardoCreateUniversalUpscalerJob',
      tags: ['Leonardo'],
      summary: 'Upscale a generated image and redraw it (asynchronous)',
      description:
        "Runs Darkroom's default upscaler on one of your generated images, resizes the result to exactly upscaleMultiplier times the image, then redraws it " +
        "by image-to-image at strength creativityStrength / 20 with the image's prompt and seed. Poll GET /variations/{id} (transformType UPSCALE). " +
        `${FLAT_PRICES.universal_upscaler} credits, refunded if it fails. Refused: ${UNSERVED_UPSCALER_OPTIONS.join(', ')}.`,
      ...secured,
      request: { body: { required: true, content: { 'application/json': { schema: UniversalUpscalerInput } } } },
      responses: { 200: { description: 'The job.', content: { 'application/json': { schema: UniversalUpscalerJob } } }, ...errorResponses },
    }),
    async (c, { body }) => {
      const auth = c.get('auth');
      for (const field of UNSERVED_UPSCALER_OPTIONS) {
        if (body[field] !== undefined && body[field] !== null) throw new ValidationError(field, `${field}: not served by Darkroom's universal upscaler`);
      }
      if (body.generatedImageId && body.variationId) throw new ValidationError('variationId', 'variationId: give generatedImageId or variationId, not both');
      const id = body.generatedImageId ?? body.variationId;
      if (!id) throw new ValidationError('generatedImageId', 'generatedImageId: is required (or variationId)');
      const field = body.generatedImageId ? 'generatedImageId' : 'variationId';
      const source = await variations.source(auth, id, field, field === 'variationId');
      const multiplier = body.upscaleMultiplier ?? UPSCALE_MULTIPLIER.default;
      const creativity = body.creativityStrength ?? CREATIVITY.default;
      const gen = await variations.universalUpscale(auth, source, multiplier, creativity, body.prompt ?? undefined, jobOptions(c, body.prompt ?? source.generation.prompt));
      return c.json({ universalUpscaler: { id: gen.id, ...credits(gen.cost) } }, 200);
    },
  );

  mount(
    createRoute({
      method: 'get',
      path: '/api/rest/v1/variations/{id}',
      operationId: 'leonardoGetVariation',
      tags: ['Leonardo'],
      summary: 'A variation: status PENDING, COMPLETE or FAILED, and its image',
      description: 'An upscale, unzoom or universal upscale; an empty list for an id that is not one of yours.',
      ...secured,
      request: { params: IdParam },
      responses: { 200: { description: 'The variation.', content: { 'application/json': { schema: VariationById } } }, ...errorResponses },
    }),
    async (c, { params }) => {
      const userId = c.get('auth').user.id;
      const up = await upscales.get(params.id).catch(() => undefined);
      if (up && up.user_id === userId) return c.json({ generated_image_variation_generic: [variationGeneric(up, url(c))] }, 200);
      const gen = await generations.getOwned(userId, params.id).catch(() => undefined);
      if (!gen || gen.variation_of === null) return c.json({ generated_image_variation_generic: [] }, 200);
      const [output] = await generations.outputs(gen.id);
      return c.json({ generated_image_variation_generic: [generatedVariationGeneric(gen, output, url(c))] }, 200);
    },
  );
}
