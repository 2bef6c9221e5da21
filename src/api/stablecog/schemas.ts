/**
 * The Stablecog dialect's request and response schemas. The messages are Stablecog's own strings
 * where Stablecog has one (its server's validation messages), so a client sees what Stablecog would
 * say; the error envelope adds the field name.
 */
import { z } from '@hono/zod-openapi';
import { PROMPT_SYNTAXES } from '../../engine/prompts/weighting.ts';
import { DEFAULT_HIRES_STRENGTH, MAX_CONTROLNET_WEIGHT, MAX_CONTROLNETS, MAX_HIRES_SCALE } from '../../engine/pipelines/check-request.ts';
import { CONTROL_PREPROCESSORS } from '../../engine/controlnet/control-image.ts';
import { NOISE_KINDS } from '../../engine/random.ts';
import { LIMITS } from './defaults.ts';

const intField = (name: string) => z.number({ error: `${name} must be a number` }).int({ error: `${name} must be an integer` });
const numField = (name: string) => z.number({ error: `${name} must be a number` });
const strField = (name: string) => z.string({ error: `${name} must be a string` });
const uuidOrId = (name: string) => strField(name).max(200, { error: `${name} is too long` });

const size = (label: 'Width' | 'Height', name: string) =>
  intField(name)
    .min(LIMITS.minSize, { error: `${label} is too small, min is: ${LIMITS.minSize}` })
    .max(LIMITS.maxSize, { error: `${label} is too large, max is: ${LIMITS.maxSize}` })
    .multipleOf(LIMITS.sizeMultiple, { error: `${label} must be a multiple of ${LIMITS.sizeMultiple}` })
    .openapi({ multipleOf: LIMITS.sizeMultiple }); // zod-to-openapi does not carry multipleOf over by itself

/** Where a client reads what a model narrows these to. */
const NARROWED = "The model may narrow this: see GET /v1/image/generation/models (each model's darkroom_limits).";

export const StreamId = strField('stream_id').regex(/^[A-Za-z0-9_-]{16,128}$/, { error: 'stream_id must be 16-128 letters, digits, _ or -' });

export const GenerationCreateInput = z
  .object({
    prompt: z
      .string({ error: (i) => (i.input === undefined ? 'Prompt is required' : 'prompt must be a string') })
      .refine((s) => s.trim() !== '', { error: 'Prompt is required' })
      .openapi({ description: `What to draw. Line breaks become spaces; cut to ${LIMITS.maxPromptLength} characters.`, example: 'red cat wearing a purple hat' }),
    negative_prompt: strField('negative_prompt').optional().openapi({ description: `What not to draw. Line breaks become spaces; cut to ${LIMITS.maxPromptLength} characters.` }),
    model_id: uuidOrId('model_id').optional().openapi({ description: 'A model id from /v1/image/generation/models (its UUID or its plain id). Default: the default model.' }),
    scheduler_id: uuidOrId('scheduler_id').optional().openapi({ description: "A scheduler id from the model's available_schedulers in GET /v1/image/generation/models (or a scheduler name). Default: the model's." }),
    width: size('Width', 'width').optional().openapi({ description: `Multiple of 8, ${LIMITS.minSize}-${LIMITS.maxSize}; width * height * inference_steps <= 1024 * 1024 * 30. Default: the model's. ${NARROWED}` }),
    height: size('Height', 'height').optional().openapi({ description: `Multiple of 8, ${LIMITS.minSize}-${LIMITS.maxSize}; width * height * inference_steps <= 1024 * 1024 * 30. Default: the model's. ${NARROWED}` }),
    num_outputs: intField('num_outputs')
      .min(LIMITS.minOutputs, { error: `Number of outputs can't be less than ${LIMITS.minOutputs}` })
      .max(LIMITS.maxOutputs, { error: `Number of outputs can't be more than ${LIMITS.maxOutputs}` })
      .optional()
      .openapi({ description: `Images to make, ${LIMITS.minOutputs}-${LIMITS.maxOutputs} (1 credit each). Default: 2. ${NARROWED}` }),
    guidance_scale: numField('guidance_scale')
      .min(LIMITS.minGuidance, { error: 'Guidance scale is too small, min is: 1.000000' })
      .max(LIMITS.maxGuidance, { error: 'Guidance scale is too large, max is: 20.000000' })
      .optional()
      .openapi({ description: `${LIMITS.minGuidance}-${LIMITS.maxGuidance}. Default: the model's (7 for most). ${NARROWED}` }),
    inference_steps: intField('inference_steps')
      .min(LIMITS.minSteps, { error: `Inference steps is too small, min is: ${LIMITS.minSteps}` })
      .max(LIMITS.maxSteps, { error: `Inference steps is too large, max is: ${LIMITS.maxSteps}` })
      .optional()
      .openapi({ description: `${LIMITS.minSteps}-${LIMITS.maxSteps}. Default: the model's. ${NARROWED}` }),
    seed: intField('seed')
      .min(-1, { error: `Seed is too small, min is: 0 (or -1 for a random seed)` })
      .max(LIMITS.maxSeed, { error: `Seed is too large, max is: ${LIMITS.maxSeed}` })
      .optional()
      .openapi({ description: `0-${LIMITS.maxSeed}. Same seed + same settings = same image; output k uses seed + k. -1 or absent: random (Stablecog draws a random seed for a negative one).` }),
    init_image_url: strField('init_image_url').max(4096, { error: 'init_image_url is too long' }).optional().openapi({ description: 'Image-to-image: an http(s) image URL (up to 5 MB) or an s3:// name from /v1/image/upload.' }),
    prompt_strength: numField('prompt_strength')
      .min(0, { error: 'Prompt strength must be between 0 and 1' })
      .max(1, { error: 'Prompt strength must be between 0 and 1' })
      .optional()
      .openapi({ description: 'With init_image_url: 0-1, higher follows the prompt more, lower the image more. Default: 0.5.' }),
    mask_image_url: strField('mask_image_url')
      .max(4096, { error: 'mask_image_url is too long' })
      .optional()
      .openapi({
        description:
          "Darkroom extension: inpainting. With init_image_url, a mask named the same way (an http(s) image URL or an s3:// name from /v1/image/upload): white repaints, black keeps (grey is read as white from half way). Only the white area is redrawn, at prompt_strength; the rest stays the init image. Like the init image, it is resized to width x height. Not with hires.",
      }),
    mask_source: z
      .enum(['luminance', 'alpha'], { error: 'mask_source must be one of luminance, alpha' })
      .optional()
      .openapi({ description: "Darkroom extension: how mask_image_url is read. luminance: white repaints; alpha: fully transparent pixels repaint (OpenAI's convention, a transparent PNG). Default: luminance." }),
    hires: z
      .object(
        {
          scale: numField('hires.scale')
            .gt(1, { error: `hires.scale must be over 1 and at most ${MAX_HIRES_SCALE}` })
            .max(MAX_HIRES_SCALE, { error: `hires.scale must be over 1 and at most ${MAX_HIRES_SCALE}` }),
          strength: numField('hires.strength').gt(0, { error: 'hires.strength must be over 0 and at most 1' }).max(1, { error: 'hires.strength must be over 0 and at most 1' }).optional(),
          steps: intField('hires.steps').min(1, { error: 'hires.steps must be at least 1' }).optional(),
        },
        { error: 'hires must be an object { scale, strength, steps }' },
      )
      .optional()
      .openapi({
        description: `Darkroom extension: AUTOMATIC1111's hires fix. Draws at width x height, upscales each image scale times (1-${MAX_HIRES_SCALE}, sides down to a multiple of 8) and redraws it there by an image-to-image pass of strength (default ${DEFAULT_HIRES_STRENGTH}) over steps (default inference_steps). The model's size limits apply to that target size. Not with init_image_url.`,
      }),
    stream_id: StreamId.optional().openapi({ description: 'Darkroom: a client-chosen id; progress is sent as Server-Sent Events on /v1/sse?id=<stream_id>.' }),
    submit_to_gallery: z.boolean().optional().openapi({ description: 'Accepted for compatibility; there is no public gallery.' }),
    noise: z
      .enum(NOISE_KINDS, { error: `noise must be one of ${NOISE_KINDS.join(', ')}` })
      .optional()
      .openapi({
        description:
          "Darkroom: where the seeded noise comes from. darkroom: Darkroom's own generator; torch-cpu: PyTorch's CPU generator, so a seed gives diffusers' picture of that seed (output k as torch.Generator(\"cpu\").manual_seed(seed + k)). Default: the server's DARKROOM_NOISE (darkroom).",
      }),
    eta: numField('eta')
      .min(0, { error: 'eta must be between 0 and 1' })
      .max(1, { error: 'eta must be between 0 and 1' })
      .optional()
      .openapi({
        description:
          "Darkroom extension: DDIM's eta (diffusers' DDIMScheduler.step(eta=)), with the DDIM scheduler only: 0 (the default) is deterministic DDIM, 1 adds DDPM's variance as fresh seeded noise at every step. Another scheduler with a non-zero eta is a 400 naming eta.",
      }),
    prompt_syntax: z
      .enum(PROMPT_SYNTAXES, { error: `prompt_syntax must be one of ${PROMPT_SYNTAXES.join(', ')}` })
      .optional()
      .openapi({
        description:
          "Darkroom extension: how prompt and negative_prompt are read. a1111: AUTOMATIC1111's syntax, (word) ×1.1, ((word)) ×1.21, [word] ÷1.1, (word:1.3), \\( \\) \\[ \\] for the brackets themselves, BREAK to start a new 75-token chunk; literal: every character is text. Either way a prompt may run past 75 tokens (it is encoded in 75-token chunks), within the 500-character cut. Default: the server's DARKROOM_PROMPT_SYNTAX (a1111).",
      }),
    loras: z
      .array(
        z.object({
          name: strField('loras[].name').min(1, { error: 'loras[].name must not be empty' }).max(200, { error: 'loras[].name is too long' }),
          weight: numField('loras[].weight').min(-10, { error: 'loras[].weight must be between -10 and 10' }).max(10, { error: 'loras[].weight must be between -10 and 10' }).optional(),
        }),
        { error: 'loras must be a list of { name, weight }' },
      )
      .max(8, { error: 'at most 8 loras' })
      .optional()
      .openapi({
        description:
          'Darkroom extension: LoRA adapters merged into the model for this request, each by name or UUID (GET /v1/loras) with a weight (default 1, 0 = none, negative = the opposite way). The prompt may name them too, as A1111 does: <lora:name:0.8>. One that is not installed or does not fit the model is refused with a 400 naming it.',
      }),
    controlnets: z
      .array(
        z.object({
          name: strField('controlnets[].name').min(1, { error: 'controlnets[].name must not be empty' }).max(200, { error: 'controlnets[].name is too long' }),
          image_url: strField('controlnets[].image_url').max(4096, { error: 'controlnets[].image_url is too long' }),
          preprocessor: z.string({ error: 'controlnets[].preprocessor must be a string' }).max(100).optional(),
          weight: numField('controlnets[].weight')
            .min(0, { error: `controlnets[].weight must be between 0 and ${MAX_CONTROLNET_WEIGHT}` })
            .max(MAX_CONTROLNET_WEIGHT, { error: `controlnets[].weight must be between 0 and ${MAX_CONTROLNET_WEIGHT}` })
            .optional(),
        }),
        { error: 'controlnets must be a list of { name, image_url, preprocessor, weight }' },
      )
      .max(MAX_CONTROLNETS, { error: `at most ${MAX_CONTROLNETS} controlnets` })
      .optional()
      .openapi({
        description: `Darkroom extension: ControlNets of the model (GET /v1/models lists them as controlnets), each steering the picture with a control image named like init_image_url (an http(s) URL or an s3:// name from /v1/image/upload), resized to width x height. preprocessor: ${CONTROL_PREPROCESSORS.join(' or ')} (canny: Canny edges of the image, thresholds 100/200; none: the image already is the control map; default canny). weight 0-${MAX_CONTROLNET_WEIGHT}, default 1. Not with mask_image_url or hires.`,
      }),
  })
  .openapi('GenerationCreateInput');

export const LorasResponse = z
  .object({
    loras: z.array(
      z.object({
        name: z.string().openapi({ description: 'What requests and <lora:name:weight> prompt tags name it by (its file name).' }),
        id: z.string().openapi({ description: 'Its UUID (also accepted in requests, and as Leonardo akUUID).' }),
        base_model_family: z.string().nullable().openapi({ description: 'The model family it was made for (sd1, sd2, sdxl), when the file says; null when it does not.' }),
        size_bytes: z.number().int(),
      }),
    ),
  })
  .openapi('LorasResponse');

export const GenerationSettings = z
  .object({
    model_id: z.string(),
    scheduler_id: z.string(),
    width: z.number().int(),
    height: z.number().int(),
    num_outputs: z.number().int(),
    guidance_scale: z.number(),
    inference_steps: z.number().int(),
    seed: z.number().int(),
    init_image_url: z.string().optional(),
    prompt_strength: z.number().optional(),
    mask_image_url: z.string().optional(),
    mask_source: z.enum(['luminance', 'alpha']).optional(),
  })
  .openapi('GenerationSettings');

export const ApiOutput = z
  .object({
    id: z.string().openapi({ description: 'The output id (use it as an upscale input).' }),
    url: z.string().openapi({ description: 'Image URL (private outputs: a signed URL).' }),
    image_url: z.string().optional(),
    upscaled_image_url: z.string().optional(),
  })
  .openapi('Output');

export const CreateGenerationResponse = z
  .object({ outputs: z.array(ApiOutput), remaining_credits: z.number().int(), settings: GenerationSettings })
  .openapi('CreateGenerationResponse');

export const ErrorResponse = z
  .object({
    error: z.string().openapi({ description: "Stablecog's error code or message (json_parse_error, invalid_model_id, insufficient_credits, queue_limit_reached, Unauthorized, TIMEOUT, ...)." }),
    field: z.string().optional().openapi({ description: 'Darkroom: the request field at fault.' }),
    description: z.string().optional(),
    settings: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi('ErrorResponse');

export const SchedulerItem = z.object({ id: z.string(), name: z.string() }).openapi('Scheduler');

const Range = z.object({ min: z.number(), max: z.number() });
const SideRange = Range.extend({ multiple: z.number().int() });

/** Stablecog's documented ranges narrowed by the model's own (in the create request's field names). */
export const StablecogLimits = z
  .object({
    width: SideRange,
    height: SideRange,
    inference_steps: Range,
    guidance_scale: Range,
    num_outputs: Range,
  })
  .openapi('StablecogModelLimits', {
    description: "Darkroom: what a create request may ask of this model: Stablecog's limits narrowed by the model's own (width * height * inference_steps <= 1024 * 1024 * 30 still applies).",
  });

export const GenerationModelsResponse = z
  .object({
    models: z.array(
      z
        .object({
          id: z.string(),
          name: z.string(),
          is_default: z.boolean(),
          available_schedulers: z.array(SchedulerItem),
          default_width: z.number().int(),
          default_height: z.number().int(),
          description: z.string().optional(),
          darkroom_id: z.string().openapi({ description: "Darkroom: the model's plain id (also accepted as model_id)." }),
          image_to_image: z.boolean(),
          controlnets: z.array(z.string()).openapi({ description: "Darkroom: the model's ControlNets by name (its folder's controlnet/<name>/), for the create request's controlnets." }),
          darkroom_limits: StablecogLimits,
        })
        .openapi('GenerationModel'),
    ),
  })
  .openapi('GenerationModelsResponse');

export const GenerationDefaultsResponse = z
  .object({
    model_id: z.string(),
    scheduler_id: z.string(),
    width: z.number().int(),
    height: z.number().int(),
    num_outputs: z.number().int(),
    guidance_scale: z.number(),
    inference_steps: z.number().int(),
    prompt_strength: z.number(),
    prompt_strengtht: z.number().openapi({ description: "prompt_strength again, as Stablecog's own OpenAPI document spells it (its clients read this name)." }),
  })
  .openapi('GenerationDefaultsResponse');

export const UpscaleModelsResponse = z
  .object({
    models: z.array(
      z
        .object({
          id: z.string(),
          name: z.string(),
          is_default: z.boolean(),
          description: z.string(),
          kind: z.enum(['super-resolution', 'resample']).openapi({ description: "Darkroom: 'super-resolution' is a trained ONNX model; 'resample' is plain Lanczos resampling, which adds no detail." }),
          scale: z.number().int(),
        })
        .openapi('UpscaleModel'),
    ),
  })
  .openapi('UpscaleModelsResponse');

export const UpscaleDefaultsResponse = z.object({ model_id: z.string() }).openapi('UpscaleDefaultsResponse');

export const UpscaleCreateInput = z
  .object({
    input: strField('input')
      .min(1, { error: 'input is required' })
      .max(4096, { error: 'input is too long' })
      .openapi({ description: 'An output id of yours, an http(s) image URL, or an s3:// name from /v1/image/upload.' }),
    model_id: uuidOrId('model_id').optional(),
  })
  .openapi('UpscaleCreateInput');

export const CreateUpscaleResponse = z
  .object({
    outputs: z.array(ApiOutput),
    remaining_credits: z.number().int(),
    settings: z.object({ model_id: z.string(), input: z.string() }),
  })
  .openapi('CreateUpscaleResponse');

export const CreditsResponse = z
  .object({
    total_remaining_credits: z.number().int(),
    credits: z.array(
      z.object({
        id: z.string(),
        remaining_amount: z.number().int(),
        expires_at: z.string(),
        type: z.object({ id: z.string(), name: z.string(), description: z.string().optional(), amount: z.number().int() }),
      }),
    ),
  })
  .openapi('CreditsResponse');

export const UploadResponse = z.object({ object: z.string().openapi({ example: 's3://<sha256 of your user id>/<uuid>.png' }) }).openapi('UploadResponse');

const commaList = <T extends z.ZodType>(item: T, name: string) =>
  z
    .string()
    .transform((s, ctx) => {
      const parts = s.split(',').map((p) => p.trim()).filter((p) => p !== '');
      const out: z.output<T>[] = [];
      for (const p of parts) {
        const r = item.safeParse(p);
        if (!r.success) {
          ctx.addIssue({ code: 'custom', message: `${name} must be a comma-separated list (bad item ${JSON.stringify(p)})` });
          return z.NEVER;
        }
        out.push(r.data as z.output<T>);
      }
      return out;
    })
    .optional()
    .openapi({ type: 'string', description: `Comma-separated ${name}.` });

const qInt = (name: string) => z.coerce.number({ error: `${name} must be a number` }).int({ error: `${name} must be an integer` });
const qNum = (name: string) => z.coerce.number({ error: `${name} must be a number` });
const isoTime = (name: string) => z.string().refine((s) => !Number.isNaN(Date.parse(s)), { error: `${name} must be an ISO time` });

export const OutputsQuery = z.object({
  per_page: qInt('per_page').min(1, { error: 'per_page must be 1-300' }).max(300, { error: 'per_page must be 1-300' }).optional().openapi({ description: '1-300, default 50.' }),
  cursor: isoTime('cursor').optional().openapi({ description: 'The `next` of the previous page.' }),
  search: strField('search').max(1000, { error: 'search is too long' }).optional().openapi({ description: 'Darkroom: only outputs whose prompt contains this text, in any case (% and _ are plain characters).' }),
  model_ids: commaList(z.string(), 'model ids'),
  scheduler_ids: commaList(z.string(), 'scheduler ids'),
  min_width: qInt('min_width').optional(),
  max_width: qInt('max_width').optional(),
  min_height: qInt('min_height').optional(),
  max_height: qInt('max_height').optional(),
  widths: commaList(qInt('widths'), 'widths'),
  heights: commaList(qInt('heights'), 'heights'),
  min_inference_steps: qInt('min_inference_steps').optional(),
  max_inference_steps: qInt('max_inference_steps').optional(),
  inference_steps: commaList(qInt('inference_steps'), 'inference steps'),
  min_guidance_scale: qNum('min_guidance_scale').optional(),
  max_guidance_scale: qNum('max_guidance_scale').optional(),
  guidance_scales: commaList(qNum('guidance_scales'), 'guidance scales'),
  order: z.enum(['asc', 'desc'], { error: 'order must be asc or desc' }).optional(),
  order_by: z.enum(['created_at', 'updated_at'], { error: 'order_by must be created_at or updated_at' }).optional(),
  upscaled: z.enum(['any', 'only', 'not'], { error: 'upscaled must be any, only or not' }).optional(),
  start_dt: isoTime('start_dt').optional(),
  end_dt: isoTime('end_dt').optional(),
});

/** One output of a listed generation (Stablecog's GenerationOutput). */
export const GenerationSibling = z
  .object({
    id: z.string(),
    image_url: z.string(),
    upscaled_image_url: z.string().optional(),
    gallery_status: z.string(),
    is_favorited: z.boolean(),
    was_auto_submitted: z.boolean(),
  })
  .openapi('GenerationOutput');

export const OutputsResponse = z
  .object({
    total: z.number().int().optional().openapi({ description: 'Only on the first page (no cursor).' }),
    next: z.string().optional().openapi({ description: 'Cursor of the next page; absent on the last.' }),
    outputs: z.array(
      z
        .object({
          id: z.string(),
          image_url: z.string(),
          upscaled_image_url: z.string().optional(),
          created_at: z.string(),
          updated_at: z.string(),
          is_public: z.boolean(),
          gallery_status: z.string(),
          was_auto_submitted: z.boolean(),
          like_count: z.number().int(),
          generation: z.object({
            id: z.string(),
            created_at: z.string(),
            started_at: z.string().optional(),
            completed_at: z.string().optional(),
            prompt: z.object({ id: z.string(), text: z.string() }),
            negative_prompt: z.object({ id: z.string(), text: z.string() }).optional(),
            model_id: z.string(),
            scheduler_id: z.string(),
            width: z.number().int(),
            height: z.number().int(),
            seed: z.number().int(),
            inference_steps: z.number().int(),
            guidance_scale: z.number(),
            num_outputs: z.number().int(),
            init_image_url: z.string().optional(),
            prompt_strength: z.number().optional(),
            outputs: z.array(GenerationSibling).openapi({ description: "All of this generation's outputs (this one included), in batch order." }),
          }),
        })
        .openapi('GenerationOutputItem'),
    ),
  })
  .openapi('OutputsResponse');

export const TokenCreateInput = z.object({ name: strField('name').max(1000, { error: 'name is too long' }).optional() }).openapi('TokenCreateInput');
export const TokenCreateResponse = z.object({ id: z.string(), token: z.string().openapi({ description: 'The secret, shown this once.' }) }).openapi('TokenCreateResponse');
export const TokenDeleteInput = z.object({ id: strField('id').min(1, { error: 'id is required' }) }).openapi('TokenDeleteInput');
export const TokensQuery = z.object({ type: z.enum(['any', 'client', 'manual'], { error: 'type must be any, client or manual' }).optional() });
export const TokensResponse = z
  .object({
    tokens: z.array(
      z
        .object({
          id: z.string(),
          name: z.string(),
          short_string: z.string(),
          uses: z.number().int(),
          credits_spent: z.number().int(),
          is_active: z.boolean(),
          last_used_at: z.string().optional(),
          created_at: z.string(),
        })
        .openapi('Token'),
    ),
  })
  .openapi('TokensResponse');
export const StatusOk = z.object({ status: z.literal('ok') }).openapi('StatusOk');

export const OperationsQuery = z.object({
  per_page: qInt('per_page').min(1, { error: 'per_page must be 1-300' }).max(300, { error: 'per_page must be 1-300' }).optional(),
  cursor: isoTime('cursor').optional(),
});
export const OperationsResponse = z
  .object({
    operations: z.array(
      z
        .object({
          id: z.string(),
          operation_type: z.enum(['generate', 'upscale']),
          status: z.string(),
          created_at: z.string(),
          started_at: z.string().optional(),
          completed_at: z.string().optional(),
          num_outputs: z.number().int(),
          cost: z.number().int().openapi({ description: 'Credits spent (after refunds).' }),
          source: z.string(),
          dialect: z.string().openapi({ description: 'Darkroom: the API that made it: stablecog, stability, leonardo or openai.' }),
          prompt: z.string().nullable().openapi({ description: "Darkroom: a generation's prompt; null for an upscale." }),
        })
        .openapi('Operation'),
    ),
    next: z.string().optional(),
  })
  .openapi('OperationsResponse');

export const IdParam = z.object({ id: strField('id').min(1, { error: 'id is required' }).max(200, { error: 'id is too long' }) });
export const CancelResponse = z
  .object({
    id: z.string(),
    status: z.literal('failed'),
    failure_reason: z.literal('cancelled'),
    refunded_credits: z.number().int().openapi({ description: 'Credits given back for the outputs it had not made.' }),
  })
  .openapi('CancelResponse');
export const DeletedOutputResponse = z.object({ id: z.string(), deleted: z.literal(true) }).openapi('DeletedOutputResponse');
