/**
 * Leonardo's generations: POST /generations (asynchronous: answers the job at once, the worker makes
 * the images, the client polls or gets the webhook), GET /generations/{id}, GET
 * /generations/user/{userId}, DELETE /generations/{id}.
 */
import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { GenerationSpec } from '../../core/generations.ts';
import { storedSettings } from '../../core/generations.ts';
import { ImageNotFoundError, ValidationError } from '../../core/errors.ts';
import { OUTPUT_REF } from '../../core/images.ts';
import type { CatalogModel, ModelCatalog } from '../../core/models.ts';
import { generationCost } from '../../core/pricing.ts';
import { randomSeed } from '../../core/random.ts';
import { DEFAULT_HIRES_STRENGTH } from '../../engine/pipelines/check-request.ts';
import { applyStyle, LEONARDO_STYLES } from '../../core/style-presets.ts';
import type { Generation, GenerationOutput } from '../../db/schema.ts';
import type { ApiOptions, ApiServices, Env } from '../env.ts';
import { idempotent, IdempotencyHeaders } from '../idempotency.ts';
import type { Mount } from '../route.ts';
import { baseUrl, imageUrl } from '../urls.ts';
import { canvasInputs } from './canvas.ts';
import { leonardoControlNets } from './controlnets.ts';
import type { VariationGeneric } from './variation-schemas.ts';
import { generatedVariationGeneric, variationGeneric } from './variations.ts';
import { errorResponses, secured } from './openapi.ts';
import { schedulerOfRequest } from './schedulers.ts';
import {
  CreateGenerationInput,
  CreateGenerationResponse,
  DEFAULT_UPSCALE_RATIO,
  DeletedGeneration,
  GenerationByPk,
  GenerationsOfUser,
  IdParam,
  IGNORED_OPTIONS,
  LIMITS,
  UserGenerationsParams,
  UserGenerationsQuery,
} from './schemas.ts';
import { generationObject, LEONARDO_DEFAULT_MODEL_ID, type LeonardoExtra, type SdVersion } from './wire.ts';

const SEED_SPACE = 2 ** 32;

/**
 * The Darkroom model a request names: a Leonardo id or sd_version mapped by DARKROOM_LEONARDO_MODELS,
 * a Darkroom model (UUID or plain id), or for the SDK's default id (or nothing) the default model.
 */
export async function resolveLeonardoModel(
  catalog: ModelCatalog,
  map: Readonly<Record<string, string>>,
  modelId: string | null | undefined,
  sdVersion: SdVersion | null | undefined,
): Promise<CatalogModel> {
  const byVersion = sdVersion ? map[sdVersion] : undefined;
  if (modelId) {
    const mapped = map[modelId] ?? map[modelId.toLowerCase()];
    if (mapped) return catalog.resolve(mapped, 'model');
    if (modelId.toLowerCase() !== LEONARDO_DEFAULT_MODEL_ID) return catalog.resolve(modelId, 'model');
  }
  return byVersion ? catalog.resolve(byVersion, 'model') : catalog.default();
}

async function familyOf(catalog: ModelCatalog, gen: Generation) {
  return (await catalog.list()).find((m) => m.id === gen.model)?.family;
}

export function registerGenerations(mount: Mount, services: ApiServices, options: ApiOptions): void {
  const { catalog, generations, images, imageAccess } = services;
  const url = (c: Context<Env>) => (key: string) => imageUrl(c, options.publicUrl, imageAccess, key);
  const wire = async (c: Context<Env>, gen: Generation, outputs: GenerationOutput[]) => {
    const variations: Record<string, VariationGeneric[]> = {};
    const outputIds = outputs.map((o) => o.id);
    for (const up of await services.upscales.ofOutputs(outputIds)) (variations[up.output_id!] ??= []).push(variationGeneric(up, url(c)));
    for (const v of await generations.variationsOf(outputIds)) {
      (variations[v.variation_of!] ??= []).push(generatedVariationGeneric(v, (await generations.outputs(v.id))[0], url(c)));
    }
    return generationObject(gen, outputs, storedSettings(gen), url(c), await familyOf(catalog, gen), variations);
  };

  mount(
    createRoute({
      method: 'post',
      path: '/api/rest/v1/generations',
      operationId: 'leonardoCreateGeneration',
      tags: ['Leonardo'],
      summary: 'Create a generation (asynchronous)',
      description:
        'Answers at once with the generation id; poll GET /generations/{id} until COMPLETE or FAILED, or set a webhook on the API key. One credit per image, ' +
        'taken now and refunded for every image that fails. Accepted without effect (listed in the X-Darkroom-Ignored answer header when sent): ' +
        `${IGNORED_OPTIONS.join(', ')}.`,
      ...secured,
      request: { headers: IdempotencyHeaders, body: { required: true, content: { 'application/json': { schema: CreateGenerationInput } } } },
      responses: { 200: { description: 'The job.', content: { 'application/json': { schema: CreateGenerationResponse } } }, ...errorResponses },
    }),
    async (c, { body }) => {
      const auth = c.get('auth');
      /** The accepted-but-ignored options (kept to echo them). */
      const raw = body as Record<string, unknown>;
      const model = await resolveLeonardoModel(catalog, options.leonardoModels ?? {}, body.modelId, body.sd_version);
      const m = model.manifest;
      const numImages = body.num_images ?? LIMITS.defaultImages;
      const scheduler = schedulerOfRequest(m, body.scheduler);
      const hiresScale = body.upscaleRatio ?? (body.highResolution ? DEFAULT_UPSCALE_RATIO : undefined);
      const presetStyle = body.presetStyle ?? 'DYNAMIC';
      const styled = applyStyle(LEONARDO_STYLES[presetStyle], body.prompt, body.negative_prompt ?? '');
      const seed = body.seed ?? randomSeed();

      if (body.unzoom) {
        throw new ValidationError('unzoom', 'unzoom: not served on a generation; generate, then POST /variations/unzoom with the generated image id');
      }
      if (body.canvasRequest && (body.init_image_id || body.init_generation_image_id)) {
        throw new ValidationError('canvasRequest', 'canvasRequest: a canvas request takes its image from canvasInitId, not init_image_id or init_generation_image_id');
      }
      const canvas = body.canvasRequest ? await canvasInputs(images, services.store, auth.user.id, body) : undefined;
      if (body.init_image_id && body.init_generation_image_id) {
        throw new ValidationError('init_generation_image_id', 'init_generation_image_id: give init_image_id or init_generation_image_id, not both');
      }
      let initImageUrl: string | undefined;
      if (body.init_image_id) {
        const upload = await images.findUpload(auth.user.id, body.init_image_id);
        if (!upload) throw new ImageNotFoundError('initImage', `init_image_id: no uploaded init image ${body.init_image_id} of yours (upload it first: POST /init-image, then the presigned POST)`);
        initImageUrl = upload.object;
      } else if (body.init_generation_image_id) {
        initImageUrl = OUTPUT_REF + body.init_generation_image_id;
        await images.resolve(auth.user.id, initImageUrl, 'init_generation_image_id'); // one of yours? (named error before any charge)
      }
      const controlnets = body.controlnets?.length ? await leonardoControlNets(images, auth.user.id, body.controlnets) : undefined;
      const initStrength = canvas ? canvas.initStrength : initImageUrl ? (body.init_strength ?? LIMITS.defaultInitStrength) : undefined;
      const width = canvas?.width ?? body.width ?? m.defaults.width;
      const height = canvas?.height ?? body.height ?? m.defaults.height;
      if (numImages > LIMITS.maxImagesLarge && (width > LIMITS.largeSide || height > LIMITS.largeSide)) {
        throw new ValidationError('numOutputs', `num_images: must be between 1 and ${LIMITS.maxImagesLarge} when width or height is over ${LIMITS.largeSide}`);
      }
      const fewSteps = m.maxSteps !== undefined;
      const spec: GenerationSpec = {
        model: model.id,
        scheduler,
        prompt: styled.prompt,
        negativePrompt: styled.negativePrompt,
        width,
        height,
        steps: body.num_inference_steps ?? (fewSteps ? m.defaults.steps : LIMITS.defaultSteps),
        guidance: body.guidance_scale ?? m.defaults.guidance,
        seed: seed % SEED_SPACE,
        numOutputs: numImages,
        ...(canvas
          ? { initImageUrl: canvas.initImageUrl, strength: canvas.strength, ...(canvas.maskUrl ? { maskUrl: canvas.maskUrl, maskSource: canvas.maskSource } : {}) }
          : initImageUrl
            ? { initImageUrl, strength: Math.round((1 - initStrength!) * 1000) / 1000 }
            : {}),
        ...(hiresScale !== undefined ? { hires: { scale: hiresScale, strength: DEFAULT_HIRES_STRENGTH } } : {}),
        ...(body.tiling ? { tiling: true } : {}),
        ...(body.elements?.length ? { loras: body.elements.map((e) => ({ name: e.akUUID, weight: e.weight ?? 1 })) } : {}),
        ...(controlnets ? { controlnets } : {}),
      };
      const extra: LeonardoExtra = {
        prompt: body.prompt,
        negativePrompt: body.negative_prompt ?? null,
        modelId: body.modelId ?? model.uuid,
        ...(body.sd_version ? { sdVersion: body.sd_version } : {}),
        ...(body.scheduler ? { scheduler: body.scheduler } : {}),
        presetStyle,
        seed,
        initStrength: initStrength ?? null,
        initImageId: body.init_image_id ?? null,
        initGenerationImageId: body.init_generation_image_id ?? null,
        ...(canvas ? { canvasRequestType: body.canvasRequestType!, canvasInitId: body.canvasInitId!, canvasMaskId: body.canvasMaskId ?? null } : {}),
        photoReal: (raw['photoReal'] as boolean | null | undefined) ?? null,
        photoRealStrength: (raw['photoRealStrength'] as number | null | undefined) ?? null,
        promptMagic: (raw['promptMagic'] as boolean | null | undefined) ?? null,
        promptMagicStrength: (raw['promptMagicStrength'] as number | null | undefined) ?? null,
        promptMagicVersion: (raw['promptMagicVersion'] as string | null | undefined) ?? null,
        ultra: (raw['ultra'] as boolean | null | undefined) ?? null,
        baseUrl: baseUrl(c, options.publicUrl),
      };
      const gen = await generations.start(auth, spec, {
        source: 'api',
        requestId: c.get('requestId'),
        dialect: 'leonardo',
        extra: extra as Record<string, unknown>,
        ...(body.public !== undefined && body.public !== null ? { isPublic: body.public } : {}),
      });
      const ignored = IGNORED_OPTIONS.filter((k) => raw[k] !== undefined && raw[k] !== null);
      if (ignored.length) c.header('X-Darkroom-Ignored', ignored.join(','));
      const cost = generationCost(spec);
      return c.json({ sdGenerationJob: { generationId: gen.id, apiCreditCost: cost, cost: { amount: String(cost), unit: 'CREDITS' as const } } }, 200);
    },
    { middleware: [idempotent(services.idempotency)] },
  );

  mount(
    createRoute({
      method: 'get',
      path: '/api/rest/v1/generations/{id}',
      operationId: 'leonardoGetGeneration',
      tags: ['Leonardo'],
      summary: 'A generation: status PENDING, COMPLETE or FAILED, and its images',
      description: 'generations_by_pk is null for an id that is not one of yours.',
      ...secured,
      request: { params: IdParam },
      responses: { 200: { description: 'The generation.', content: { 'application/json': { schema: GenerationByPk } } }, ...errorResponses },
    }),
    async (c, { params }) => {
      const gen = await generations.getOwned(c.get('auth').user.id, params.id);
      if (!gen) return c.json({ generations_by_pk: null }, 200);
      return c.json({ generations_by_pk: await wire(c, gen, await generations.outputs(gen.id)) }, 200);
    },
  );

  mount(
    createRoute({
      method: 'get',
      path: '/api/rest/v1/generations/user/{userId}',
      operationId: 'leonardoGetGenerationsByUser',
      tags: ['Leonardo'],
      summary: "A user's generations, newest first",
      description: 'userId is the id from GET /me; another user\'s id lists nothing. Generations made through any dialect are listed.',
      ...secured,
      request: { params: UserGenerationsParams, query: UserGenerationsQuery },
      responses: { 200: { description: 'One page.', content: { 'application/json': { schema: GenerationsOfUser } } }, ...errorResponses },
    }),
    async (c, { params, query }) => {
      const userId = c.get('auth').user.id;
      if (params.userId !== userId) return c.json({ generations: [] }, 200);
      const rows = await generations.list(userId, query.offset ?? 0, query.limit ?? 10);
      return c.json({ generations: await Promise.all(rows.map((r) => wire(c, r.generation, r.outputs))) }, 200);
    },
  );

  mount(
    createRoute({
      method: 'delete',
      path: '/api/rest/v1/generations/{id}',
      operationId: 'leonardoDeleteGeneration',
      tags: ['Leonardo'],
      summary: 'Delete a generation',
      description: 'A generation still pending is cancelled and refunded. Its images are deleted; its charge stays in the usage history.',
      ...secured,
      request: { params: IdParam },
      responses: { 200: { description: 'The deleted id (null: not one of yours).', content: { 'application/json': { schema: DeletedGeneration } } }, ...errorResponses },
    }),
    async (c, { params }) => {
      const gen = await generations.delete(c.get('auth').user.id, params.id);
      return c.json({ delete_generations_by_pk: gen ? { id: gen.id } : null }, 200);
    },
  );
}
