/**
 * The Stability dialect: seed 002's Stable Image Core (`POST /api/generate/core`, JSON in, base64
 * JSON out, 6 credits per success) and Stability's own v2beta Stable Image Core
 * (`POST /v2beta/stable-image/generate/core`, multipart in, image bytes or JSON out, 3 credits per
 * success). Each route family has its own error envelope (errors.ts). Handlers only call core services.
 */
import { createRoute, OpenAPIHono, type z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { ImageTooLargeError, MalformedRequestError } from '../../core/errors.ts';
import { FLAT_PRICES } from '../../core/pricing.ts';
import { outputBytes } from '../../core/output-formats.ts';
import { bearerOrRawSecret, registerBearer, requireApiKey } from '../auth.ts';
import type { ApiOptions, ApiServices, Env } from '../env.ts';
import { readForm, textFields } from '../multipart.ts';
import { idempotent, IdempotencyHeaders } from '../idempotency.ts';
import { mounter } from '../route.ts';
import { parseWith } from '../validation.ts';
import { seedErrorHandler, v2ErrorHandler } from './errors.ts';
import { generateOne } from './generate.ts';
import { SeedCoreError, SeedCoreInput, SeedCoreResponse, V2CoreForm, V2CoreFormDoc, V2CoreJson, V2Error } from './schemas.ts';
import { SIZE, sizeForAspect } from './sizes.ts';

const MAX_BODY = 10 * 1024 * 1024;
const secured = { security: [{ bearer: [] }] };

/** seed 002: `POST /api/generate/core`. */
function seedApp(services: ApiServices, options: ApiOptions): OpenAPIHono<Env> {
  const app = new OpenAPIHono<Env>();
  app.onError(seedErrorHandler(options.log));
  registerBearer(app);
  const mount = mounter(app, requireApiKey(services.accounts, services.rateLimiter, bearerOrRawSecret), options.limits);
  const json = { 'application/json': { schema: SeedCoreError } } as const;
  mount(
    createRoute({
      method: 'post',
      path: '/api/generate/core',
      operationId: 'stableImageCore',
      tags: ['Stability'],
      summary: 'Stable Image Core (seed 002): one image, base64 in JSON',
      description:
        `Authorization: the API key, raw or as "Bearer <key>". width and height (${SIZE.min}-${SIZE.max}, multiples of ${SIZE.multiple}) together, or aspect_ratio alone (default 1:1). ` +
        `${FLAT_PRICES.stable_image_core} credits per successful image; failures are not charged. Runs the default model, which may narrow the sizes: ` +
        "see GET /v1/image/generation/models or GET /v1/models (its darkroom_limits).",
      ...secured,
      request: { headers: IdempotencyHeaders, body: { required: true, content: { 'application/json': { schema: SeedCoreInput } } } },
      responses: {
        200: { description: 'The image (`code` 0).', content: { 'application/json': { schema: SeedCoreResponse } } },
        400: { description: 'Bad input; the message starts with the field. Nothing is charged.', content: json },
        401: { description: 'Missing or unknown API key.', content: json },
        402: { description: 'Too few credits.', content: json },
        429: { description: 'Rate limit or too many requests waiting.', content: json },
        500: { description: 'The generation failed or timed out; not charged.', content: json },
      },
    }),
    async (c, { body }) => {
      const model = await services.catalog.default();
      const size = body.width !== undefined && body.height !== undefined ? { width: body.width, height: body.height } : sizeForAspect(body.aspect_ratio ?? '1:1', model);
      const r = await generateOne(
        c,
        services,
        model,
        { prompt: body.prompt, negativePrompt: body.negative_prompt, stylePreset: body.style_preset, seed: body.seed, ...size },
        'stable_image_core',
        '/api/generate/core',
      );
      const out = r.outputs[0]!;
      const { bytes } = await outputBytes(services.store, out.image_key, 'png');
      return c.json({ code: 0 as const, message: 'success' as const, data: { image: bytes.toString('base64'), seed: Number(out.seed) } }, 200);
    },
    { middleware: [idempotent(services.idempotency)] },
  );
  return app;
}

/** Stability's own: `POST /v2beta/stable-image/generate/core`. */
function v2App(services: ApiServices, options: ApiOptions): OpenAPIHono<Env> {
  const app = new OpenAPIHono<Env>();
  app.onError(v2ErrorHandler(options.log));
  registerBearer(app);
  const mount = mounter(app, requireApiKey(services.accounts, services.rateLimiter, bearerOrRawSecret), options.limits);
  const json = { 'application/json': { schema: V2Error } } as const;
  mount(
    createRoute({
      method: 'post',
      path: '/v2beta/stable-image/generate/core',
      operationId: 'stabilityGenerateCore',
      tags: ['Stability'],
      summary: "Stable Image Core (Stability's v2beta): one image as bytes or JSON",
      description:
        'multipart/form-data. `Accept: image/*` (default) answers the image bytes with `finish-reason` and `seed` headers; `Accept: application/json` answers ' +
        `{image (base64), finish_reason, seed}; finish_reason CONTENT_FILTERED when the model's safety checker blacked the image out (charged as made). ` +
        `${FLAT_PRICES.stability_core} credits per successful image; failures are not charged. ` +
        "Runs the default model: the size is the one it can draw whose shape is nearest the aspect ratio asked for, at about its native pixel count " +
        '(see GET /v1/image/generation/models or GET /v1/models, its darkroom_limits).',
      ...secured,
      request: { headers: IdempotencyHeaders, body: { required: true, content: { 'multipart/form-data': { schema: V2CoreFormDoc } } } },
      responses: {
        200: {
          description: 'The image.',
          headers: { 'finish-reason': { schema: { type: 'string', enum: ['SUCCESS', 'CONTENT_FILTERED'] } }, seed: { schema: { type: 'string' } } },
          content: {
            'image/png': { schema: { type: 'string', format: 'binary' } },
            'image/jpeg': { schema: { type: 'string', format: 'binary' } },
            'image/webp': { schema: { type: 'string', format: 'binary' } },
            'application/json': { schema: V2CoreJson },
          },
        },
        400: { description: 'Bad input ("field: problem"). Nothing is charged.', content: json },
        401: { description: 'Missing or unknown API key.', content: json },
        402: { description: 'Too few credits.', content: json },
        413: { description: 'The request is over 10 MiB.', content: json },
        422: { description: 'Well-formed, but the model cannot do it.', content: json },
        429: { description: 'Rate limit or too many requests waiting.', content: json },
        500: { description: 'The generation failed or timed out; not charged.', content: json },
      },
    }),
    async (c) => {
      const accept = (c.req.header('accept') ?? '*/*').toLowerCase();
      const wantsJson = /application\/json/.test(accept);
      if (!wantsJson && !/image\/|\*\/\*/.test(accept)) throw new MalformedRequestError('accept', 'accept: must be image/* or application/json');
      const form = await readForm(c);
      const fields = parseWith(V2CoreForm, textFields(form)) as z.output<typeof V2CoreForm>;
      const model = await services.catalog.default();
      const size = sizeForAspect(fields.aspect_ratio ?? '1:1', model);
      const r = await generateOne(
        c,
        services,
        model,
        { prompt: fields.prompt, negativePrompt: fields.negative_prompt, stylePreset: fields.style_preset, seed: fields.seed, ...size },
        'stability_core',
        '/v2beta/stable-image/generate/core',
      );
      const out = r.outputs[0]!;
      const format = fields.output_format ?? 'png';
      const { bytes, contentType } = await outputBytes(services.store, out.image_key, format);
      const seed = Number(out.seed);
      // The safety checker's black image is Stability's blurred one: still answered, and charged.
      const finishReason = out.nsfw ? 'CONTENT_FILTERED' : 'SUCCESS';
      if (wantsJson) {
        c.header('Content-Type', `application/json; type=${contentType}`);
        return c.body(JSON.stringify({ image: bytes.toString('base64'), finish_reason: finishReason, seed }), 200);
      }
      return c.body(new Uint8Array(bytes), 200, { 'Content-Type': contentType, 'finish-reason': finishReason, seed: String(seed) });
    },
    {
      middleware: [
        bodyLimit({
          maxSize: MAX_BODY,
          onError: () => {
            throw new ImageTooLargeError('', `the request is over ${MAX_BODY / 1024 / 1024} MiB`);
          },
        }),
        idempotent(services.idempotency),
      ],
    },
  );
  return app;
}

export function createStabilityApp(services: ApiServices, options: ApiOptions): OpenAPIHono<Env> {
  const app = new OpenAPIHono<Env>();
  app.route('/', seedApp(services, options));
  app.route('/', v2App(services, options));
  return app;
}
