/**
 * OpenAI Images API request and response schemas (https://platform.openai.com/docs/api-reference/images),
 * with OpenAI-worded messages. JSON for generations; multipart (text fields coerced) for edits and
 * variations. Fields Darkroom has no use for (quality, style, background, moderation, ...) are accepted
 * when they hold one of OpenAI's documented values, and ignored.
 */
import { z } from '@hono/zod-openapi';

/** The engine's batch limit (OpenAI allows up to 10 with dall-e-2). */
export const MAX_N = 8;
export const MAX_PROMPT = 32000;

type Issue = { input?: unknown };

/** Where a client reads what a model narrows these to. */
const NARROWED = "The model may narrow this: see GET /v1/models (each model's darkroom_limits).";
const got = (i: Issue) => JSON.stringify(i.input);

const requiredString = (name: string) =>
  z.string({ error: (i: Issue) => (i.input === undefined || i.input === null ? `Missing required parameter: '${name}'.` : `Invalid type for '${name}': expected a string, but got ${typeof i.input} instead.`) });

const optString = (name: string, max = 1000) =>
  z
    .string({ error: (i: Issue) => `Invalid type for '${name}': expected a string, but got ${typeof i.input} instead.` })
    .max(max, { error: `Invalid '${name}': string too long. Expected a string with maximum length ${max}.` })
    .nullish();

export const Prompt = requiredString('prompt')
  .min(1, { error: "Invalid 'prompt': empty string. Expected a string with minimum length 1." })
  .max(MAX_PROMPT, { error: `Invalid 'prompt': string too long. Expected a string with maximum length ${MAX_PROMPT}.` })
  .openapi({ description: `What to draw (for edits: what the repainted area shows), 1-${MAX_PROMPT} characters.`, example: 'A cute baby sea otter' });

/** `n`, as JSON (a number) or as a form field (digits). */
const nField = (coerce: boolean) =>
  (coerce ? z.coerce.number({ error: "Invalid type for 'n': expected an integer." }) : z.number({ error: (i: Issue) => `Invalid type for 'n': expected an integer, but got ${typeof i.input} instead.` }))
    .int({ error: "Invalid type for 'n': expected an integer." })
    .min(1, { error: (i: Issue) => `Invalid 'n': integer below minimum value. Expected a value >= 1, but got ${got(i)} instead.` })
    .max(MAX_N, { error: (i: Issue) => `Invalid 'n': integer above maximum value. Expected a value <= ${MAX_N} (this server's batch limit), but got ${got(i)} instead.` })
    .nullish()
    .openapi({ description: `Images to make, 1-${MAX_N} (one credit each). Default 1. ${NARROWED}` });

export const Size = z
  .string({ error: "Invalid type for 'size': expected a string such as '512x512'." })
  .regex(/^(auto|\d{1,5}x\d{1,5})$/, { error: (i: Issue) => `Invalid value for 'size': ${got(i)}. Expected 'WIDTHxHEIGHT' (multiples of 8 the model can draw, e.g. '512x512') or 'auto'.` })
  .nullish()
  .openapi({
    description:
      "WIDTHxHEIGHT in pixels, multiples of 8 within the model's range, or auto (the model's default size; for edits and variations the input image's size when the model can draw it). " +
      NARROWED,
  });

export const ResponseFormat = z
  .enum(['url', 'b64_json'], { error: (i: Issue) => `Invalid value for 'response_format': ${got(i)}. Supported values are: 'url' and 'b64_json'.` })
  .nullish()
  .openapi({ description: 'url (default: a signed link to the image on this server) or b64_json.' });

export const OutputFormat = z
  .enum(['png', 'jpeg', 'webp'], { error: (i: Issue) => `Invalid value for 'output_format': ${got(i)}. Supported values are: 'png', 'jpeg' and 'webp'.` })
  .nullish()
  .openapi({ description: 'Encoding of b64_json images (png default). URLs always serve PNG.' });

export const Model = optString('model', 200).openapi({
  description: "A Darkroom model id (its plain id or UUID, see the Stablecog /v1/image/generation/models). OpenAI's names (dall-e-2, dall-e-3, gpt-image-*) mean the default model.",
});

/** One of OpenAI's documented values, accepted for compatibility and ignored. */
const acceptedEnum = <const T extends readonly [string, ...string[]]>(name: string, values: T) =>
  z
    .enum(values, { error: (i: Issue) => `Invalid value for '${name}': ${got(i)}. Supported values are: ${values.map((v) => `'${v}'`).join(', ')}.` })
    .nullish()
    .openapi({ description: `${values.join(', ')}: accepted for compatibility and ignored.` });

/** An integer in OpenAI's documented range, accepted for compatibility and ignored. */
const acceptedInt = (name: string, min: number, max: number) =>
  z
    .number({ error: (i: Issue) => `Invalid type for '${name}': expected an integer, but got ${typeof i.input} instead.` })
    .int({ error: `Invalid type for '${name}': expected an integer.` })
    .min(min, { error: (i: Issue) => `Invalid '${name}': integer below minimum value. Expected a value >= ${min}, but got ${got(i)} instead.` })
    .max(max, { error: (i: Issue) => `Invalid '${name}': integer above maximum value. Expected a value <= ${max}, but got ${got(i)} instead.` })
    .nullish()
    .openapi({ description: `${min}-${max}: accepted for compatibility and ignored.` });

export const GenerationsInput = z
  .object({
    prompt: Prompt,
    model: Model,
    n: nField(false),
    size: Size,
    response_format: ResponseFormat,
    output_format: OutputFormat,
    user: optString('user', 1000).openapi({ description: 'Accepted; recorded nowhere.' }),
    stream: z
      .boolean({ error: "Invalid type for 'stream': expected a boolean." })
      .nullish()
      .refine((v) => v !== true, { error: "Invalid 'stream': streaming image generation is not supported by this server; omit it or send false." })
      .openapi({ description: 'Only false (no streaming).' }),
    quality: acceptedEnum('quality', ['auto', 'standard', 'hd', 'low', 'medium', 'high']),
    style: acceptedEnum('style', ['vivid', 'natural']),
    background: acceptedEnum('background', ['auto', 'transparent', 'opaque']),
    moderation: acceptedEnum('moderation', ['auto', 'low']),
    output_compression: acceptedInt('output_compression', 0, 100),
    partial_images: acceptedInt('partial_images', 0, 3),
  })
  .openapi('OpenAIImageGenerationInput');

/** Text fields of the multipart edits form (files are read separately). */
export const EditsForm = z.object({
  prompt: Prompt,
  model: Model,
  n: nField(true),
  size: Size,
  response_format: ResponseFormat,
  output_format: OutputFormat,
  user: optString('user', 1000),
  stream: z
    .enum(['false', 'true'], { error: "Invalid 'stream': expected true or false." })
    .nullish()
    .refine((v) => v !== 'true', { error: "Invalid 'stream': streaming image edits are not supported by this server; omit it or send false." }),
});

export const VariationsForm = z.object({
  model: Model,
  n: nField(true),
  size: Size,
  response_format: ResponseFormat,
  output_format: OutputFormat,
  user: optString('user', 1000),
});

const binary = (description: string) => z.string().openapi({ type: 'string', format: 'binary', description });

/** The form fields the edit and variation endpoints share (multipart: every value is a string). */
const imageFormFields = {
  model: z.string().optional(),
  n: z.string().optional().openapi({ description: `1-${MAX_N}. ${NARROWED}` }),
  size: z.string().optional().openapi({ description: `WIDTHxHEIGHT or auto (the image's own size when the model can draw it). ${NARROWED}` }),
  response_format: z.enum(['url', 'b64_json']).optional(),
  output_format: z.enum(['png', 'jpeg', 'webp']).optional(),
  user: z.string().optional(),
};

export const EditsFormDoc = z
  .object({
    image: binary('The image to edit: PNG, JPEG or WebP, at most 10 MB. Without a mask, its transparent pixels mark the area to repaint.'),
    mask: binary('Optional: an image of the same size whose fully transparent pixels mark the area to repaint.').optional(),
    prompt: z.string(),
    ...imageFormFields,
  })
  .openapi('OpenAIImageEditInput');

export const VariationsFormDoc = z
  .object({
    image: binary('The image to vary: PNG, JPEG or WebP, at most 10 MB.'),
    ...imageFormFields,
  })
  .openapi('OpenAIImageVariationInput');

export const ImagesResponse = z
  .object({
    created: z.number().int().openapi({ description: 'Unix time (seconds) the request was accepted.' }),
    data: z.array(
      z
        .object({
          url: z.string().optional().openapi({ description: 'With response_format url: a signed link (works without headers).' }),
          b64_json: z.string().optional().openapi({ description: 'With response_format b64_json: the image, base64.' }),
        })
        .openapi('OpenAIImage'),
    ),
    size: z.string().optional().openapi({ description: 'WIDTHxHEIGHT of the images.' }),
    output_format: z.enum(['png', 'jpeg', 'webp']).optional(),
  })
  .openapi('OpenAIImagesResponse');

export const OpenAIError = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string().openapi({ description: 'invalid_request_error, insufficient_quota, requests, server_error' }),
      param: z.string().nullable().openapi({ description: 'The request parameter at fault (size, n, prompt, image, mask, model, ...).' }),
      code: z.string().nullable(),
    }),
  })
  .openapi('OpenAIError');

const Range = z.object({ min: z.number(), max: z.number() });
const SideRange = Range.extend({ multiple: z.number().int() });

export const OpenAIModelLimits = z
  .object({
    width: SideRange.openapi({ description: "The WIDTH of size: the model's range." }),
    height: SideRange.openapi({ description: "The HEIGHT of size: the model's range." }),
    n: Range,
    default_size: z.string().openapi({ description: 'What size auto (or no size) means for a generation.', example: '256x256' }),
  })
  .openapi('OpenAIModelLimits', { description: 'Darkroom: what an images request may ask of this model (not part of OpenAI\'s Model object).' });

export const OpenAIModel = z
  .object({
    id: z.string().openapi({ description: "The model's Darkroom id (its manifest id): what `model` takes in image requests.", example: 'darkroom-demo' }),
    object: z.literal('model'),
    created: z.number().int().openapi({ description: 'Unix seconds: when this server process started (models carry no date of their own).' }),
    owned_by: z.string().openapi({ example: 'darkroom' }),
    darkroom_limits: OpenAIModelLimits,
  })
  .openapi('OpenAIModel');

export const OpenAIModelList = z
  .object({
    object: z.literal('list'),
    data: z.array(OpenAIModel),
  })
  .openapi('OpenAIModelList');

export const ModelIdParams = z.object({
  id: z.string().min(1).openapi({ param: { name: 'id', in: 'path' }, description: 'A model id from GET /v1/models.', example: 'darkroom-demo' }),
});
