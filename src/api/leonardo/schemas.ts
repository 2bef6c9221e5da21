/**
 * Leonardo's request and response schemas under /api/rest/v1, with the wire names of
 * reference/peer-apis.md §2.2 (snake_case where Leonardo uses it, camelCase elsewhere). Every field may
 * be null (the official SDK sends null for what it leaves unset). Options Darkroom cannot honour are
 * accepted and listed in IGNORED_OPTIONS (and in the README).
 */
import { z } from '@hono/zod-openapi';
import { LEONARDO_STYLE_NAMES } from '../../core/style-presets.ts';
import { MAX_HIRES_SCALE } from '../../engine/pipelines/check-request.ts';
import { CANVAS_REQUEST_TYPES, MAX_CANVAS_INIT_STRENGTH } from './canvas.ts';
import { ControlnetsInput } from './controlnets.ts';
import { LEONARDO_SCHEDULER_NAMES } from './schedulers.ts';
import { SD_VERSIONS } from './wire.ts';
import { VariationGenericSchema } from './variation-schemas.ts';

export const LIMITS = {
  minSize: 32,
  maxSize: 1536,
  sizeMultiple: 8,
  maxImages: 8,
  /** num_images above this needs width and height both at most 768. */
  maxImagesLarge: 4,
  largeSide: 768,
  minSteps: 10,
  maxSteps: 60,
  defaultSteps: 15,
  minGuidance: 1,
  maxGuidance: 20,
  maxSeed: 9999999998,
  minInitStrength: 0.1,
  maxInitStrength: 0.9,
  defaultInitStrength: 0.5,
  defaultImages: 4,
  maxPrompt: 10000,
} as const;

/** highResolution without upscaleRatio: how much larger the hires fix draws. */
export const DEFAULT_UPSCALE_RATIO = 1.5;

/** Accepted, documented, and without effect on Darkroom. */
export const IGNORED_OPTIONS = [
  'alchemy',
  'contrastRatio',
  'contrast',
  'expandedDomain',
  'fantasyAvatar',
  'highContrast',
  'photoReal',
  'photoRealVersion',
  'photoRealStrength',
  'promptMagic',
  'promptMagicStrength',
  'promptMagicVersion',
  'ultra',
  'transparency',
  'imagePrompts',
  'imagePromptWeight',
  'controlNet',
  'controlNetType',
  'weighting',
  'userElements',
  'unzoomAmount',
  'enhancePrompt',
  'enhancePromptInstruction',
] as const;

type Issue = { input?: unknown };

/** Where a client reads what a model narrows these to. */
const NARROWED = "The model may narrow this: see GET /api/rest/v1/platformModels (each model's darkroom_limits).";

const int = (name: string) => z.number({ error: `${name}: must be an integer` }).int({ error: `${name}: must be an integer` });
const num = (name: string) => z.number({ error: `${name}: must be a number` });
const str = (name: string, max = 1000) => z.string({ error: `${name}: must be a string` }).max(max, { error: `${name}: must be at most ${max} characters` });
const bool = (name: string) => z.boolean({ error: `${name}: must be true or false` });

const size = (name: 'width' | 'height') =>
  int(name)
    .min(LIMITS.minSize, { error: `${name}: must be between ${LIMITS.minSize} and ${LIMITS.maxSize}` })
    .max(LIMITS.maxSize, { error: `${name}: must be between ${LIMITS.minSize} and ${LIMITS.maxSize}` })
    .multipleOf(LIMITS.sizeMultiple, { error: `${name}: must be a multiple of ${LIMITS.sizeMultiple}` })
    .nullish()
    .openapi({ multipleOf: LIMITS.sizeMultiple, description: `${LIMITS.minSize}-${LIMITS.maxSize}, a multiple of 8. Default: the model's default size. ${NARROWED}` });

const ignored = (description = 'Accepted; no effect on Darkroom.') => z.unknown().optional().openapi({ description });

export const CreateGenerationInput = z
  .object({
    prompt: z
      .string({ error: (i: Issue) => (i.input === undefined || i.input === null ? 'prompt: is required' : 'prompt: must be a string') })
      .refine((s) => s.trim() !== '', { error: 'prompt: is required' })
      .refine((s) => s.length <= LIMITS.maxPrompt, { error: `prompt: must be at most ${LIMITS.maxPrompt} characters` })
      .openapi({ description: `What to draw, 1-${LIMITS.maxPrompt} characters.`, example: 'A majestic cat in the snow' }),
    negative_prompt: str('negative_prompt', LIMITS.maxPrompt).nullish().openapi({ description: `What not to draw, at most ${LIMITS.maxPrompt} characters.` }),
    modelId: str('modelId', 200)
      .nullish()
      .openapi({ description: "A Darkroom model (UUID or plain id), or a Leonardo model id mapped by DARKROOM_LEONARDO_MODELS; the SDK's default b24e16ff-06e3-43eb-8d33-4416c2d75876 means the mapped or default model." }),
    sd_version: z
      .enum(SD_VERSIONS, { error: `sd_version: must be one of ${SD_VERSIONS.join(', ')}` })
      .nullish()
      .openapi({ description: 'Picks the model mapped to it in DARKROOM_LEONARDO_MODELS (else the default) when modelId is absent or the SDK default.' }),
    width: size('width'),
    height: size('height'),
    num_images: int('num_images')
      .min(1, { error: `num_images: must be between 1 and ${LIMITS.maxImages}` })
      .max(LIMITS.maxImages, { error: `num_images: must be between 1 and ${LIMITS.maxImages}` })
      .nullish()
      .openapi({ description: `1-${LIMITS.maxImages}; 1-${LIMITS.maxImagesLarge} when width or height is over ${LIMITS.largeSide}. Default ${LIMITS.defaultImages}. One credit each. ${NARROWED}` }),
    num_inference_steps: int('num_inference_steps')
      .min(LIMITS.minSteps, { error: `num_inference_steps: must be between ${LIMITS.minSteps} and ${LIMITS.maxSteps}` })
      .max(LIMITS.maxSteps, { error: `num_inference_steps: must be between ${LIMITS.minSteps} and ${LIMITS.maxSteps}` })
      .nullish()
      .openapi({ description: `${LIMITS.minSteps}-${LIMITS.maxSteps}, default ${LIMITS.defaultSteps}. ${NARROWED}` }),
    guidance_scale: num('guidance_scale')
      .min(LIMITS.minGuidance, { error: `guidance_scale: must be between ${LIMITS.minGuidance} and ${LIMITS.maxGuidance}` })
      .max(LIMITS.maxGuidance, { error: `guidance_scale: must be between ${LIMITS.minGuidance} and ${LIMITS.maxGuidance}` })
      .nullish()
      .openapi({ description: `${LIMITS.minGuidance}-${LIMITS.maxGuidance}. Default: the model's. ${NARROWED}` }),
    seed: int('seed')
      .min(0, { error: `seed: must be between 0 and ${LIMITS.maxSeed}` })
      .max(LIMITS.maxSeed, { error: `seed: must be between 0 and ${LIMITS.maxSeed}` })
      .nullish()
      .openapi({ description: 'Same seed, same settings: same images (the engine uses seed mod 2^32). Absent: random.' }),
    scheduler: z
      .enum(LEONARDO_SCHEDULER_NAMES, { error: `scheduler: must be one of ${LEONARDO_SCHEDULER_NAMES.join(', ')}` })
      .nullish()
      .openapi({ description: `Default EULER_DISCRETE (or the model's own when it lacks Euler). LEONARDO is DPM++ 2M Karras. ${NARROWED}` }),
    presetStyle: z
      .enum(LEONARDO_STYLE_NAMES, { error: `presetStyle: must be one of ${LEONARDO_STYLE_NAMES.join(', ')}` })
      .nullish()
      .openapi({ description: 'A style (prompt and negative-prompt templates). Default DYNAMIC; NONE and LEONARDO leave the prompt as it is.' }),
    tiling: bool('tiling').nullish().openapi({ description: 'Seamless tiling (models that support it).' }),
    public: bool('public').nullish().openapi({ description: 'Whether the images are viewable by anyone with their URL.' }),
    init_image_id: str('init_image_id', 200).nullish().openapi({ description: 'An init image from POST /init-image: image-to-image.' }),
    init_generation_image_id: str('init_generation_image_id', 200).nullish().openapi({ description: 'One of your generated images: image-to-image.' }),
    init_strength: num('init_strength')
      .min(LIMITS.minInitStrength, { error: `init_strength: must be between ${LIMITS.minInitStrength} and ${LIMITS.maxInitStrength}` })
      .max(LIMITS.maxInitStrength, { error: `init_strength: must be between ${LIMITS.minInitStrength} and ${LIMITS.maxInitStrength}` })
      .nullish()
      .openapi({ description: `How much the result keeps of the init image, ${LIMITS.minInitStrength}-${LIMITS.maxInitStrength} (default ${LIMITS.defaultInitStrength}; for a canvas request see canvasRequestType).` }),
    canvasRequest: bool('canvasRequest').nullish().openapi({ description: 'A canvas editor request: canvasRequestType on canvasInitId (and canvasMaskId), from POST /canvas-init-image.' }),
    canvasRequestType: z
      .enum(CANVAS_REQUEST_TYPES, { error: `canvasRequestType: must be one of ${CANVAS_REQUEST_TYPES.join(', ')}` })
      .nullish()
      .openapi({
        description:
          'INPAINT repaints the white area of canvasMaskId; OUTPAINT fills the transparent area of canvasInitId; IMG2IMG is image-to-image from canvasInitId; SKETCH2IMG image-to-image from a sketch. ' +
          `Repaint strength is 1 - init_strength (default init_strength 0 for INPAINT and OUTPAINT, at most ${MAX_CANVAS_INIT_STRENGTH}; 0.5 for IMG2IMG; 0.15 for SKETCH2IMG). The canvas draws at the init image's size (width and height are not used).`,
      }),
    canvasInitId: str('canvasInitId', 200).nullish().openapi({ description: 'initImageId from POST /canvas-init-image (sides divisible by 8).' }),
    canvasMaskId: str('canvasMaskId', 200).nullish().openapi({ description: 'maskImageId from POST /canvas-init-image: white where to repaint, black where to keep, the size of the init image.' }),
    highResolution: bool('highResolution')
      .nullish()
      .openapi({ description: `Hires fix (AUTOMATIC1111's): draw at width x height, then redraw upscaleRatio (default ${DEFAULT_UPSCALE_RATIO}) times larger by image-to-image. The model's size limits apply to the larger size.` }),
    upscaleRatio: num('upscaleRatio')
      .gt(1, { error: `upscaleRatio: must be over 1 and at most ${MAX_HIRES_SCALE}` })
      .max(MAX_HIRES_SCALE, { error: `upscaleRatio: must be over 1 and at most ${MAX_HIRES_SCALE}` })
      .nullish()
      .openapi({ description: `How much larger the hires fix draws (over 1, at most ${MAX_HIRES_SCALE}); sent alone it turns highResolution on.` }),
    unzoom: bool('unzoom')
      .nullish()
      .openapi({ description: 'Not served on a generation: true is refused (400 naming unzoom). Unzoom a generated image with POST /variations/unzoom.' }),
    elements: z
      .array(
        z.object({
          akUUID: str('elements[].akUUID', 200).openapi({ description: 'A LoRA from GET /elements: its akUUID (or its name).' }),
          weight: num('elements[].weight')
            .min(-10, { error: 'elements[].weight: must be between -10 and 10' })
            .max(10, { error: 'elements[].weight: must be between -10 and 10' })
            .nullish()
            .openapi({ description: 'How strongly it applies (default 1).' }),
        }),
        { error: 'elements: must be a list of { akUUID, weight }' },
      )
      .max(8, { error: 'elements: at most 8' })
      .nullish()
      .openapi({ description: "LoRA adapters installed on this server (GET /api/rest/v1/elements), merged into the model for this generation; one that is not installed or does not fit the model is refused naming it. The prompt may name them too, as A1111 does: <lora:name:0.8>." }),
    controlnets: ControlnetsInput,
    ...Object.fromEntries(IGNORED_OPTIONS.map((k) => [k, ignored()])),
  })
  .openapi('LeonardoCreateGenerationInput');
/** GET /elements: the installed LoRA adapters in Leonardo's shape (the SDK's ListElementsResponseBody). */
export const ElementsResponse = z
  .object({
    loras: z.array(
      z.object({
        akUUID: z.string(),
        name: z.string(),
        description: z.string().nullable(),
        baseModel: z.enum(SD_VERSIONS).nullable(),
        creatorName: z.string().nullable(),
        urlImage: z.string().nullable(),
        weightDefault: z.number(),
        weightMin: z.number(),
        weightMax: z.number(),
      }),
    ),
  })
  .openapi('LeonardoElements');

export const CreateGenerationResponse = z
  .object({
    sdGenerationJob: z.object({
      generationId: z.string(),
      apiCreditCost: z.number().int().openapi({ description: 'Credits taken (refunded for images that fail).' }),
      cost: z.object({ amount: z.string(), unit: z.literal('CREDITS') }),
    }),
  })
  .openapi('LeonardoCreateGenerationResponse');

const GeneratedImage = z
  .object({
    id: z.string(),
    url: z.string(),
    nsfw: z.boolean(),
    likeCount: z.number().int(),
    fantasyAvatar: z.null(),
    imageToVideo: z.null(),
    motion: z.null(),
    motionModel: z.null(),
    motionMP4URL: z.null(),
    motionStrength: z.null(),
    generated_image_variation_generics: z.array(VariationGenericSchema),
  })
  .openapi('LeonardoGeneratedImage');

export const Generation = z
  .object({
    id: z.string(),
    status: z.enum(['PENDING', 'COMPLETE', 'FAILED']),
    createdAt: z.string(),
    prompt: z.string(),
    negativePrompt: z.string().nullable(),
    modelId: z.string(),
    sdVersion: z.enum(SD_VERSIONS),
    scheduler: z.enum(LEONARDO_SCHEDULER_NAMES).optional(),
    presetStyle: z.string().nullable(),
    seed: z.number().int(),
    imageWidth: z.number().int(),
    imageHeight: z.number().int(),
    inferenceSteps: z.number().int(),
    guidanceScale: z.number(),
    initStrength: z.number().nullable(),
    public: z.boolean(),
    photoReal: z.boolean().nullable(),
    photoRealStrength: z.number().nullable(),
    promptMagic: z.boolean().nullable(),
    promptMagicStrength: z.number().nullable(),
    promptMagicVersion: z.string().nullable(),
    ultra: z.boolean().nullable(),
    generated_images: z.array(GeneratedImage),
    generation_elements: z.array(z.unknown()),
  })
  .openapi('LeonardoGeneration');

export const GenerationByPk = z.object({ generations_by_pk: Generation.nullable() }).openapi('LeonardoGenerationByPk');
export const GenerationsOfUser = z.object({ generations: z.array(Generation) }).openapi('LeonardoGenerationsOfUser');
export const DeletedGeneration = z.object({ delete_generations_by_pk: z.object({ id: z.string() }).nullable() }).openapi('LeonardoDeletedGeneration');

export const IdParam = z.object({ id: z.string().max(200, { error: 'id: must be at most 200 characters' }) });
export const UserGenerationsParams = z.object({ userId: z.string().max(200, { error: 'userId: must be at most 200 characters' }) });
export const UserGenerationsQuery = z.object({
  offset: z.coerce.number({ error: 'offset: must be an integer' }).int({ error: 'offset: must be an integer' }).min(0, { error: 'offset: must be 0 or more' }).optional(),
  limit: z.coerce
    .number({ error: 'limit: must be an integer' })
    .int({ error: 'limit: must be an integer' })
    .min(1, { error: 'limit: must be between 1 and 50' })
    .max(50, { error: 'limit: must be between 1 and 50' })
    .optional()
    .openapi({ description: '1-50, default 10.' }),
});

export const Me = z
  .object({
    user_details: z.array(
      z.object({
        user: z.object({ id: z.string(), username: z.string() }),
        apiSubscriptionTokens: z.number().int().openapi({ description: 'Your Darkroom credit balance.' }),
        apiPaidTokens: z.number().int(),
        apiConcurrencySlots: z.number().int().openapi({ description: 'Generations you may have running at once.' }),
        apiPlanTokenRenewalDate: z.null(),
        subscriptionTokens: z.number().int(),
        subscriptionGptTokens: z.number().int(),
        subscriptionModelTokens: z.number().int(),
        paidTokens: z.number().int(),
        tokenRenewalDate: z.null(),
      }),
    ),
  })
  .openapi('LeonardoMe');

const Range = z.object({ min: z.number(), max: z.number() });
const SideRange = Range.extend({ multiple: z.number().int() });

/** Leonardo's documented ranges narrowed by the model's own (in POST /generations' field names). */
export const LeonardoLimits = z
  .object({
    width: SideRange,
    height: SideRange,
    num_images: Range,
    num_inference_steps: Range,
    guidance_scale: Range,
    scheduler: z.array(z.enum(LEONARDO_SCHEDULER_NAMES)).openapi({ description: 'The scheduler values this model takes.' }),
  })
  .openapi('LeonardoModelLimits', {
    description: `Darkroom: what POST /generations may ask of this model: Leonardo's limits narrowed by the model's own (num_images at most ${LIMITS.maxImagesLarge} above ${LIMITS.largeSide} px still applies).`,
  });

export const PlatformModels = z
  .object({
    custom_models: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        description: z.string(),
        nsfw: z.boolean(),
        featured: z.boolean(),
        generated_image: z.null(),
        darkroom_limits: LeonardoLimits,
        darkroom_controlnets: z.array(z.string()).openapi({ description: "Darkroom: the model's ControlNets by name; preprocessorId 19 (Edge to Image) needs one named canny." }),
      }),
    ),
  })
  .openapi('LeonardoPlatformModels');

export const INIT_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp'] as const;
export const InitImageInput = z
  .object({
    extension: z.string({ error: 'extension: is required' }).openapi({ description: 'png, jpg, jpeg or webp.' }),
  })
  .openapi('LeonardoInitImageInput');

export const InitImageUpload = z
  .object({
    uploadInitImage: z.object({
      id: z.string(),
      url: z.string().openapi({ description: "Darkroom's upload route: POST the fields and the file there (multipart) within 2 minutes; no API key needed." }),
      key: z.string(),
      fields: z.string().openapi({ description: 'JSON object of form fields to send with the file (a short-lived signed token).' }),
    }),
  })
  .openapi('LeonardoInitImageUpload');

export const CanvasInitImageInput = z
  .object({
    initExtension: z.string({ error: 'initExtension: is required' }).openapi({ description: 'png, jpg, jpeg or webp.' }),
    maskExtension: z.string({ error: 'maskExtension: is required' }).openapi({ description: 'png, jpg, jpeg or webp.' }),
  })
  .openapi('LeonardoCanvasInitImageInput');

export const CanvasInitImageUpload = z
  .object({
    uploadCanvasInitImage: z.object({
      initImageId: z.string(),
      initUrl: z.string(),
      initKey: z.string(),
      initFields: z.string(),
      maskImageId: z.string(),
      maskUrl: z.string(),
      maskKey: z.string(),
      maskFields: z.string(),
    }),
  })
  .openapi('LeonardoCanvasInitImageUpload');

export const InitImageByPk = z
  .object({ init_images_by_pk: z.object({ id: z.string(), createdAt: z.string(), url: z.string() }).nullable() })
  .openapi('LeonardoInitImageByPk');
export const DeletedInitImage = z.object({ delete_init_images_by_pk: z.object({ id: z.string() }).nullable() }).openapi('LeonardoDeletedInitImage');

export const UploadForm = z
  .object({
    key: z.string().optional(),
    token: z.string().openapi({ description: 'From the fields of POST /init-image.' }),
    'Content-Type': z.string().optional(),
    file: z.string().openapi({ type: 'string', format: 'binary', description: 'The image (PNG, JPEG or WebP, at most 10 MB), last in the form.' }),
  })
  .openapi('LeonardoInitImageUploadForm');

export const LeonardoError = z
  .object({ error: z.string().openapi({ description: 'What went wrong; bad input starts with the field.' }), path: z.literal('$'), code: z.string() })
  .openapi('LeonardoError');
