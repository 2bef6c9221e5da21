/** POST /v1/image/generation/create (alias /v1/image/generate): synchronous generation. */
import { createRoute } from '@hono/zod-openapi';
import type { GenerationSpec } from '../../core/generations.ts';
import { randomSeed } from '../../core/random.ts';
import { DEFAULT_HIRES_STRENGTH } from '../../engine/pipelines/check-request.ts';
import type { ControlPreprocessor } from '../../engine/pipelines/request.ts';
import { ValidationError } from '../../core/errors.ts';
import type { ApiOptions, ApiServices } from '../env.ts';
import { idempotent, IdempotencyHeaders } from '../idempotency.ts';
import type { Mount } from '../route.ts';
import { imageUrl } from '../urls.ts';
import { defaultsFor, formatPrompt, LIMITS } from './defaults.ts';
import { schedulerOfRequest, stablecogScheduler } from './schedulers.ts';
import { CreateGenerationResponse, ErrorResponse, GenerationCreateInput } from './schemas.ts';
import { errorResponses, secured } from './openapi.ts';

export const createGenerationRoute = createRoute({
  method: 'post',
  path: '/v1/image/generation/create',
  operationId: 'createGeneration',
  tags: ['Generation'],
  summary: 'Generate images (waits for them)',
  description:
    'Makes 1-4 images from a prompt and answers when they are ready (up to DARKROOM_GENERATION_TIMEOUT, 240 s by default). ' +
    'Costs 1 credit per requested image, taken when the request is accepted; every image that fails is refunded.',
  ...secured,
  request: { headers: IdempotencyHeaders, body: { required: true, content: { 'application/json': { schema: GenerationCreateInput } } } },
  responses: {
    200: { description: 'The images, the balance after this request, and every setting used.', content: { 'application/json': { schema: CreateGenerationResponse } } },
    ...errorResponses,
  },
});

export function registerGeneration(mount: Mount, services: ApiServices, options: ApiOptions): void {
  const { catalog, generations, imageAccess } = services;
  mount(
    createGenerationRoute,
    async (c, { body }) => {
      const model = await catalog.resolve(body.model_id, 'model_id');
      const scheduler = schedulerOfRequest(model.manifest, body.scheduler_id);
      const d = defaultsFor(model);
      const spec: GenerationSpec = {
        model: model.id,
        scheduler,
        prompt: formatPrompt(body.prompt),
        negativePrompt: formatPrompt(body.negative_prompt ?? ''),
        width: body.width ?? d.width,
        height: body.height ?? d.height,
        steps: body.inference_steps ?? d.inferenceSteps,
        guidance: body.guidance_scale ?? d.guidanceScale,
        seed: body.seed === undefined || body.seed < 0 ? randomSeed() : body.seed,
        numOutputs: body.num_outputs ?? d.numOutputs,
        ...(body.init_image_url ? { initImageUrl: body.init_image_url, strength: body.prompt_strength ?? d.promptStrength } : {}),
        ...(body.mask_image_url ? { maskUrl: body.mask_image_url, maskSource: body.mask_source ?? 'luminance' } : {}),
        ...(body.hires ? { hires: { scale: body.hires.scale, strength: body.hires.strength ?? DEFAULT_HIRES_STRENGTH, ...(body.hires.steps ? { steps: body.hires.steps } : {}) } } : {}),
        ...(body.noise ? { noise: body.noise } : {}),
        ...(body.eta !== undefined ? { eta: body.eta } : {}),
        ...(body.prompt_syntax ? { promptSyntax: body.prompt_syntax } : {}),
        ...(body.loras?.length ? { loras: body.loras.map((l) => ({ name: l.name, weight: l.weight ?? 1 })) } : {}),
        ...(body.controlnets?.length
          ? { controlnets: body.controlnets.map((c) => ({ name: c.name, imageUrl: c.image_url, preprocessor: (c.preprocessor ?? 'canny') as ControlPreprocessor, weight: c.weight ?? 1 })) }
          : {}),
      };
      if (body.mask_source && !body.mask_image_url) throw new ValidationError('mask_source', 'mask_source says how to read mask_image_url; send a mask_image_url with it');
      if (spec.width * spec.height * spec.steps > LIMITS.maxPixelSteps) {
        throw new ValidationError(
          'inference_steps',
          `Pick fewer inference steps or smaller dimensions: ${spec.width} - ${spec.height} - ${spec.steps}`,
        );
      }
      const settings = {
        model_id: model.uuid,
        scheduler_id: stablecogScheduler(spec.scheduler).id,
        width: spec.width,
        height: spec.height,
        num_outputs: spec.numOutputs,
        guidance_scale: spec.guidance,
        inference_steps: spec.steps,
        seed: spec.seed,
        ...(spec.initImageUrl ? { init_image_url: spec.initImageUrl, prompt_strength: spec.strength } : {}),
        ...(spec.maskUrl ? { mask_image_url: spec.maskUrl, mask_source: spec.maskSource } : {}),
      };
      c.set('errorSettings', settings);
      const result = await generations.run(c.get('auth'), spec, { source: 'api', streamId: body.stream_id, requestId: c.get('requestId') });
      return c.json(
        {
          // Stablecog's workers dropped flagged images (all of them: `outputs: []`), charged all the same.
          outputs: result.outputs.filter((o) => !o.nsfw).map((o) => {
            const url = imageUrl(c, options.publicUrl, imageAccess, o.image_key);
            return { id: o.id, url, image_url: url };
          }),
          remaining_credits: result.balance,
          settings,
        },
        200,
      );
    },
    { aliases: ['/v1/image/generate'], middleware: [idempotent(services.idempotency)] },
  );
}

export { ErrorResponse };
