/**
 * Stability request and response schemas: seed 002's JSON /api/generate/core and Stability's own
 * multipart v2beta Stable Image Core (reference/peer-apis.md §3.1). Messages start with the field.
 */
import { z } from '@hono/zod-openapi';
import { STABILITY_STYLE_NAMES } from '../../core/style-presets.ts';
import { ASPECT_RATIOS, SIZE } from './sizes.ts';

export const MAX_PROMPT = 10000;

/** Where a client reads what the default model (the one these routes use) takes. */
export const NARROWED = "The model may narrow this: see GET /v1/image/generation/models or GET /v1/models (the default model's darkroom_limits).";
export const MAX_SEED = 4294967294;

type Issue = { input?: unknown };

const prompt = z
  .string({ error: (i: Issue) => (i.input === undefined ? 'prompt: is required' : 'prompt: must be a string') })
  .refine((s) => s.trim() !== '', { error: 'prompt: is required' })
  .refine((s) => s.length <= MAX_PROMPT, { error: `prompt: must be at most ${MAX_PROMPT} characters` })
  .openapi({ description: `What to draw, 1-${MAX_PROMPT} characters.`, example: 'A lighthouse on a cliff' });

const negativePrompt = z
  .string({ error: 'negative_prompt: must be a string' })
  .max(MAX_PROMPT, { error: `negative_prompt: must be at most ${MAX_PROMPT} characters` })
  .optional()
  .openapi({ description: `What not to draw, at most ${MAX_PROMPT} characters.` });

const aspectRatio = z
  .enum(ASPECT_RATIOS, { error: `aspect_ratio: must be one of ${ASPECT_RATIOS.join(', ')}` })
  .optional()
  .openapi({ description: `Shape of the image (default 1:1): the size the default model can draw whose shape is nearest, at about its native pixel count (at most ${SIZE.max} a side). ${NARROWED}` });

const stylePreset = z
  .enum(STABILITY_STYLE_NAMES, { error: `style_preset: must be one of ${STABILITY_STYLE_NAMES.join(', ')}` })
  .optional()
  .openapi({ description: 'A style: prompt and negative-prompt templates (tile-texture also draws a seamless tile where the model can).' });

const side = (name: 'width' | 'height') =>
  z
    .number({ error: `${name}: must be an integer` })
    .int({ error: `${name}: must be an integer` })
    .min(SIZE.min, { error: `${name}: must be between ${SIZE.min} and ${SIZE.max}` })
    .max(SIZE.max, { error: `${name}: must be between ${SIZE.min} and ${SIZE.max}` })
    .multipleOf(SIZE.multiple, { error: `${name}: must be a multiple of ${SIZE.multiple}` })
    .optional()
    .openapi({
      multipleOf: SIZE.multiple,
      description: `${SIZE.min}-${SIZE.max}, a multiple of ${SIZE.multiple}; give width and height together, or neither (then aspect_ratio). ${NARROWED}`,
    });

const seedJson = z
  .number({ error: 'seed: must be an integer' })
  .int({ error: 'seed: must be an integer' })
  .min(0, { error: `seed: must be between 0 and ${MAX_SEED}` })
  .max(MAX_SEED, { error: `seed: must be between 0 and ${MAX_SEED}` })
  .optional()
  .openapi({ description: '0 or absent: random.' });

export const SeedCoreInput = z
  .object({
    prompt,
    width: side('width'),
    height: side('height'),
    aspect_ratio: aspectRatio,
    seed: seedJson,
    negative_prompt: negativePrompt,
    style_preset: stylePreset,
    output_format: z
      .enum(['png'], { error: 'output_format: must be png on this route (the image comes back as base64 PNG; /v2beta/stable-image/generate/core also makes jpeg and webp)' })
      .optional()
      .openapi({ description: 'png only: the image comes back as base64 PNG.' }),
  })
  .superRefine((v, ctx) => {
    if ((v.width === undefined) !== (v.height === undefined)) {
      const missing = v.width === undefined ? 'width' : 'height';
      ctx.addIssue({ code: 'custom', path: [missing], message: `${missing}: is required when ${missing === 'width' ? 'height' : 'width'} is given` });
    }
  })
  .openapi('StableImageCoreInput');

export const SeedCoreResponse = z
  .object({
    code: z.literal(0),
    message: z.literal('success'),
    data: z.object({ image: z.string().openapi({ description: 'The PNG image, base64.' }), seed: z.number().int() }),
  })
  .openapi('StableImageCoreResponse');

export const SeedCoreError = z
  .object({ code: z.literal(-1), message: z.string().openapi({ description: 'What went wrong, starting with the field at fault.' }) })
  .openapi('StableImageCoreError');

export const OUTPUT_FORMATS = ['png', 'jpeg', 'webp'] as const;

/** The v2beta form's text fields (multipart: numbers arrive as text). */
export const V2CoreForm = z.object({
  prompt,
  aspect_ratio: aspectRatio,
  negative_prompt: negativePrompt,
  seed: z
    .string()
    .regex(/^\d+$/, { error: `seed: must be an integer between 0 and ${MAX_SEED}` })
    .transform(Number)
    .refine((n) => n <= MAX_SEED, { error: `seed: must be an integer between 0 and ${MAX_SEED}` })
    .optional(),
  style_preset: stylePreset,
  output_format: z.enum(OUTPUT_FORMATS, { error: 'output_format: must be one of png, jpeg, webp' }).optional(),
});

export const V2CoreFormDoc = z
  .object({
    prompt: z.string().openapi({ description: `Required, 1-${MAX_PROMPT} characters.` }),
    aspect_ratio: z.enum(ASPECT_RATIOS).optional().openapi({ description: `Default 1:1: the size the default model can draw whose shape is nearest, at about its native pixel count. ${NARROWED}` }),
    negative_prompt: z.string().optional().openapi({ description: `At most ${MAX_PROMPT} characters.` }),
    seed: z.string().optional().openapi({ description: `0-${MAX_SEED}; 0 or absent: random.` }),
    style_preset: z.enum(STABILITY_STYLE_NAMES).optional(),
    output_format: z.enum(OUTPUT_FORMATS).optional().openapi({ description: 'png (default), jpeg or webp.' }),
  })
  .openapi('StabilityCoreForm');

export const V2CoreJson = z
  .object({
    image: z.string().openapi({ description: 'The image, base64.' }),
    finish_reason: z.enum(['SUCCESS', 'CONTENT_FILTERED']),
    seed: z.number().int(),
  })
  .openapi('StabilityCoreJsonResponse');

export const V2Error = z
  .object({
    id: z.string().openapi({ description: '32 hex characters (the request id).' }),
    name: z.string().openapi({ description: 'bad_request, unauthorized, payment_required, payload_too_large, invalid_request, rate_limit_exceeded, internal_error' }),
    errors: z.array(z.string()).openapi({ description: '"field: problem" entries.' }),
  })
  .openapi('StabilityError');
