/**
 * Leonardo's variations of a generated image (reference/peer-apis.md §2.5): POST /variations/upscale
 * runs Darkroom's default upscaler on one of the caller's generated images as an upscale job
 * (asynchronous: answered with the job, one credit, refunded if it fails; an image upscaled before
 * answers its earlier upscale at no charge), GET /variations/{id} reads it back, and GET
 * /generations/{id} lists each image's upscales as its generated_image_variation_generics.
 */
import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Upscale } from '../../db/schema.ts';
import type { ApiServices, ApiOptions, Env } from '../env.ts';
import type { Mount } from '../route.ts';
import { imageUrl } from '../urls.ts';
import { errorResponses, secured } from './openapi.ts';
import { IdParam } from './schemas.ts';
import { UpscaleVariationInput, UpscaleVariationJob, VariationById, type VariationGeneric } from './variation-schemas.ts';
import { jobStatus } from './wire.ts';

export function variationGeneric(up: Upscale, url: (key: string) => string): VariationGeneric {
  return { id: up.id, createdAt: up.created_at, status: jobStatus(up.status), transformType: 'UPSCALE', url: up.image_key ? url(up.image_key) : null };
}

export function registerVariations(mount: Mount, services: ApiServices, options: ApiOptions): void {
  const { upscales, imageAccess } = services;
  const url = (c: Context<Env>) => (key: string) => imageUrl(c, options.publicUrl, imageAccess, key);

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
      method: 'get',
      path: '/api/rest/v1/variations/{id}',
      operationId: 'leonardoGetVariation',
      tags: ['Leonardo'],
      summary: 'A variation: status PENDING, COMPLETE or FAILED, and its image',
      description: 'An empty list for an id that is not one of yours.',
      ...secured,
      request: { params: IdParam },
      responses: { 200: { description: 'The variation.', content: { 'application/json': { schema: VariationById } } }, ...errorResponses },
    }),
    async (c, { params }) => {
      const up = await upscales.get(params.id).catch(() => undefined);
      const mine = up && up.user_id === c.get('auth').user.id ? [variationGeneric(up, url(c))] : [];
      return c.json({ generated_image_variation_generic: mine }, 200);
    },
  );
}
