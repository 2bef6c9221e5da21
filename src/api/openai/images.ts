/**
 * OpenAI's Images API on Darkroom's core: POST /v1/images/generations (text-to-image),
 * /v1/images/edits (inpainting: transparent pixels of the mask, or of the image itself, are
 * repainted) and /v1/images/variations (image-to-image without a prompt). Synchronous, one credit
 * per requested image, refunded for every image that fails.
 */
import type { Context } from 'hono';
import { createRoute, type z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { CatalogModel } from '../../core/models.ts';
import type { GenerationSpec } from '../../core/generations.ts';
import { ImageTooLargeError, InvalidImageError, ValidationError } from '../../core/errors.ts';
import { inspectImage, MAX_UPLOAD_BYTES } from '../../core/images.ts';
import { outputBytes, type OutputFormat } from '../../core/output-formats.ts';
import { randomSeed } from '../../core/random.ts';
import type { ApiOptions, ApiServices, Env } from '../env.ts';
import { filesOf, readForm, textFields } from '../multipart.ts';
import { idempotent, IdempotencyHeaders } from '../idempotency.ts';
import type { Mount } from '../route.ts';
import { imageUrl } from '../urls.ts';
import { parseWith } from '../validation.ts';
import { EditsForm, EditsFormDoc, GenerationsInput, ImagesResponse, OpenAIError, VariationsForm, VariationsFormDoc } from './schemas.ts';
import { CONTENT_POLICY_VIOLATION } from './errors.ts';

/** How much of the input image a variation repaints (0 keeps it, 1 ignores it). */
export const VARIATION_STRENGTH = 0.6;
const OPENAI_MODEL_NAMES = /^(dall-e-[23]|gpt-image-[a-z0-9.-]+|chatgpt-image-[a-z0-9.-]+)$/i;

const secured = { security: [{ bearer: [] }] };
const errorJson = { 'application/json': { schema: OpenAIError } } as const;
const responses = {
  200: { description: 'The images.', content: { 'application/json': { schema: ImagesResponse } } },
  400: {
    description:
      'Bad input; `param` names the field. Nothing is charged. Or `content_policy_violation` (type image_generation_user_error): the safety checker flagged every image (charged as made).',
    content: errorJson,
  },
  401: { description: 'Missing or unknown API key (invalid_api_key).', content: errorJson },
  429: { description: 'Rate limit (rate_limit_exceeded, see Retry-After), too many requests waiting, or too few credits (insufficient_quota).', content: errorJson },
  500: { description: 'The generation failed or timed out; its credits were refunded.', content: errorJson },
} as const;

const uploadLimit = () =>
  bodyLimit({
    maxSize: 2 * MAX_UPLOAD_BYTES + 256 * 1024,
    onError: () => {
      throw new ImageTooLargeError('initImage', `images are limited to ${MAX_UPLOAD_BYTES / 1024 / 1024} MB each`);
    },
  });

async function resolveModel(services: ApiServices, ref: string | null | undefined): Promise<CatalogModel> {
  if (!ref || OPENAI_MODEL_NAMES.test(ref)) return services.catalog.default();
  return services.catalog.resolve(ref, 'model');
}

const fits = (v: number, m: CatalogModel) => v % 8 === 0 && v >= m.manifest.minSize && v <= m.manifest.maxSize;

/** `size` as width and height; auto/absent: the fallback (the model's default size). */
function parseSize(size: string | null | undefined, fallback: { width: number; height: number }): { width: number; height: number } {
  if (!size || size === 'auto') return fallback;
  const [w, h] = size.split('x').map(Number) as [number, number];
  return { width: w, height: h };
}

function baseSpec(model: CatalogModel, prompt: string, n: number | null | undefined, size: { width: number; height: number }): GenerationSpec {
  const d = model.manifest.defaults;
  return {
    model: model.id,
    scheduler: d.scheduler,
    prompt,
    negativePrompt: '',
    width: size.width,
    height: size.height,
    steps: d.steps,
    guidance: d.guidance,
    seed: randomSeed(),
    numOutputs: n ?? 1,
  };
}

async function answer(
  c: Context<Env>,
  services: ApiServices,
  options: ApiOptions,
  spec: GenerationSpec,
  format: { response?: 'url' | 'b64_json' | null; output?: OutputFormat | null },
  extra: Record<string, unknown>,
): Promise<Response> {
  const result = await services.generations.run(c.get('auth'), spec, { source: 'api', dialect: 'openai', extra, requestId: c.get('requestId') });
  // Flagged images (black) are left out, as OpenAI answers only what passed its safety system; none left is its error.
  const shown = result.outputs.filter((o) => !o.nsfw);
  if (!shown.length && result.outputs.length) return c.json(CONTENT_POLICY_VIOLATION, 400);
  const output = format.output ?? 'png';
  const data = await Promise.all(
    shown.map(async (o) =>
      format.response === 'b64_json'
        ? { b64_json: (await outputBytes(services.store, o.image_key, output)).bytes.toString('base64') }
        : { url: imageUrl(c, options.publicUrl, services.imageAccess, o.image_key) },
    ),
  );
  return c.json(
    {
      created: Math.floor(Date.parse(result.generation.created_at) / 1000),
      data,
      size: `${spec.width}x${spec.height}`,
      ...(format.response === 'b64_json' ? { output_format: output } : {}),
    },
    200,
  );
}

/** A form file's bytes and header (JPEG/PNG/WebP), checked before anything is stored. */
async function inspectFile(file: File, field: 'initImage' | 'mask') {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (bytes.length > MAX_UPLOAD_BYTES) throw new ImageTooLargeError(field, `images are limited to ${MAX_UPLOAD_BYTES / 1024 / 1024} MB each`);
  if (!bytes.length) throw new InvalidImageError(field, 'the file is empty');
  return { bytes, info: await inspectImage(bytes, field) };
}

/**
 * Stores the request's images as uploads of the user (only once every check on them passed) and
 * runs `fn` with their `upload:` refs. The uploads stay with the generation that used them; when the
 * request fails (refused, not enough credits, generation failed), they are deleted before it answers.
 */
async function withUploads<T>(services: ApiServices, userId: string, files: { bytes: Uint8Array; field: 'initImage' | 'mask' }[], fn: (refs: string[]) => Promise<T>): Promise<T> {
  const ids: string[] = [];
  try {
    const refs: string[] = [];
    for (const f of files) {
      const up = await services.images.upload(userId, f.bytes, f.field);
      ids.push(up.id);
      refs.push(up.ref);
    }
    return await fn(refs);
  } catch (err) {
    await Promise.allSettled(ids.map((id) => services.images.deleteUpload(userId, id)));
    throw err;
  }
}

function oneFile(files: File[], field: 'initImage' | 'mask', required: boolean): File | undefined {
  const name = field === 'initImage' ? 'image' : 'mask';
  if (files.length > 1) throw new ValidationError(field, `Invalid '${name}': send one image (this server edits one image at a time).`);
  if (required && !files.length) throw new ValidationError(field, `Missing required parameter: '${name}' (a file in the multipart form).`);
  return files[0];
}

/** The input image's own size when the model can draw it (rounded down to multiples of 8), else the model's default. */
function sizeFromImage(model: CatalogModel, w: number, h: number): { width: number; height: number } {
  const width = w - (w % 8);
  const height = h - (h % 8);
  if (fits(width, model) && fits(height, model)) return { width, height };
  return { width: model.manifest.defaults.width, height: model.manifest.defaults.height };
}

export function registerImages(mount: Mount, services: ApiServices, options: ApiOptions): void {
  mount(
    createRoute({
      method: 'post',
      path: '/v1/images/generations',
      operationId: 'openaiCreateImage',
      tags: ['OpenAI'],
      summary: 'Create images from a prompt (OpenAI Images API)',
      description:
        'Answers when the images are ready. One credit per image. `model` is a Darkroom model id; OpenAI model names mean the default model. ' +
        'quality, style, background, moderation, output_compression and partial_images are accepted and ignored.',
      ...secured,
      request: { headers: IdempotencyHeaders, body: { required: true, content: { 'application/json': { schema: GenerationsInput } } } },
      responses,
    }),
    async (c, { body }) => {
      const model = await resolveModel(services, body.model);
      const size = parseSize(body.size, { width: model.manifest.defaults.width, height: model.manifest.defaults.height });
      const spec = baseSpec(model, body.prompt, body.n, size);
      return answer(c, services, options, spec, { response: body.response_format, output: body.output_format }, { operation: 'generations', ...(body.user ? { user: body.user } : {}) });
    },
    { middleware: [idempotent(services.idempotency)] },
  );

  mount(
    createRoute({
      method: 'post',
      path: '/v1/images/edits',
      operationId: 'openaiEditImage',
      tags: ['OpenAI'],
      summary: 'Repaint part of an image (OpenAI Images API: inpainting)',
      description:
        'multipart/form-data. The fully transparent pixels of `mask` (same size as `image`) mark the area to repaint; without a mask, ' +
        "the image's own transparent pixels do. One credit per image.",
      ...secured,
      request: { headers: IdempotencyHeaders, body: { required: true, content: { 'multipart/form-data': { schema: EditsFormDoc } } } },
      responses,
    }),
    async (c) => {
      const form = await readForm(c);
      const fields = parseWith(EditsForm, textFields(form, ['image', 'mask'])) as z.output<typeof EditsForm>;
      const imageFile = oneFile(filesOf(form, 'image'), 'initImage', true)!;
      const maskFile = oneFile(filesOf(form, 'mask'), 'mask', false);
      const model = await resolveModel(services, fields.model);
      if (!model.imageToImage) throw new ValidationError('model', `model ${model.id} cannot edit images (it has no VAE encoder)`);
      const userId = c.get('auth').user.id;
      // Every check first: a refused edit stores nothing.
      const image = await inspectFile(imageFile, 'initImage');
      const mask = maskFile ? await inspectFile(maskFile, 'mask') : undefined;
      if (mask) {
        if (!mask.info.hasAlpha) throw new InvalidImageError('mask', "Invalid 'mask': it must have an alpha channel; its fully transparent pixels mark the area to edit.");
        if (mask.info.width !== image.info.width || mask.info.height !== image.info.height) {
          throw new InvalidImageError('mask', `Invalid 'mask': it must have the same dimensions as the image (${image.info.width}x${image.info.height}), got ${mask.info.width}x${mask.info.height}.`);
        }
      } else if (!image.info.hasAlpha) {
        throw new InvalidImageError('initImage', "Invalid 'image': without a mask, the image must have transparent pixels (an alpha channel) marking the area to edit.");
      }
      const size = parseSize(fields.size, sizeFromImage(model, image.info.width, image.info.height));
      const files = [{ bytes: image.bytes, field: 'initImage' as const }, ...(mask ? [{ bytes: mask.bytes, field: 'mask' as const }] : [])];
      return withUploads(services, userId, files, ([imageRef, maskRef]) => {
        const spec: GenerationSpec = { ...baseSpec(model, fields.prompt, fields.n, size), initImageUrl: imageRef!, strength: 1, maskUrl: maskRef ?? imageRef!, maskSource: 'alpha' };
        return answer(c, services, options, spec, { response: fields.response_format, output: fields.output_format }, { operation: 'edits' });
      });
    },
    { middleware: [uploadLimit(), idempotent(services.idempotency)] },
  );

  mount(
    createRoute({
      method: 'post',
      path: '/v1/images/variations',
      operationId: 'openaiCreateImageVariation',
      tags: ['OpenAI'],
      summary: 'Variations of an image (OpenAI Images API: image-to-image)',
      description: `multipart/form-data. Image-to-image without a prompt, repainting ${VARIATION_STRENGTH * 100}% of the image. One credit per image.`,
      ...secured,
      request: { headers: IdempotencyHeaders, body: { required: true, content: { 'multipart/form-data': { schema: VariationsFormDoc } } } },
      responses,
    }),
    async (c) => {
      const form = await readForm(c);
      const fields = parseWith(VariationsForm, textFields(form, ['image'])) as z.output<typeof VariationsForm>;
      const imageFile = oneFile(filesOf(form, 'image'), 'initImage', true)!;
      const model = await resolveModel(services, fields.model);
      if (!model.imageToImage) throw new ValidationError('model', `model ${model.id} cannot make variations (it has no VAE encoder)`);
      const image = await inspectFile(imageFile, 'initImage');
      const size = parseSize(fields.size, sizeFromImage(model, image.info.width, image.info.height));
      return withUploads(services, c.get('auth').user.id, [{ bytes: image.bytes, field: 'initImage' }], ([imageRef]) => {
        const spec: GenerationSpec = { ...baseSpec(model, '', fields.n, size), initImageUrl: imageRef!, strength: VARIATION_STRENGTH };
        return answer(c, services, options, spec, { response: fields.response_format, output: fields.output_format }, { operation: 'variations' });
      });
    },
    { middleware: [uploadLimit(), idempotent(services.idempotency)] },
  );
}
