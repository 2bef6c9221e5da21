/** POST /v1/image/upscale/create (alias /v1/image/upscale): synchronous upscale. */
import { createRoute } from '@hono/zod-openapi';
import type { ApiOptions, ApiServices } from '../env.ts';
import { idempotent, IdempotencyHeaders } from '../idempotency.ts';
import type { Mount } from '../route.ts';
import { imageUrl } from '../urls.ts';
import { errorResponses, secured } from './openapi.ts';
import { CreateUpscaleResponse, UpscaleCreateInput } from './schemas.ts';

export function registerUpscale(mount: Mount, services: ApiServices, options: ApiOptions): void {
  const { upscales, imageAccess } = services;
  mount(
    createRoute({
      method: 'post',
      path: '/v1/image/upscale/create',
      operationId: 'createUpscale',
      tags: ['Upscale'],
      summary: 'Upscale an output or an image (waits for it)',
      description:
        'input: one of your output ids, an http(s) image URL, or an s3:// upload name (at most 1024 x 1024 pixels, 10 MB). ' +
        '1 credit; an output already upscaled is answered again at no charge. See /v1/image/upscale/models for what the upscaler is.',
      ...secured,
      request: { headers: IdempotencyHeaders, body: { required: true, content: { 'application/json': { schema: UpscaleCreateInput } } } },
      responses: { 200: { description: 'The upscaled image.', content: { 'application/json': { schema: CreateUpscaleResponse } } }, ...errorResponses },
    }),
    async (c, { body }) => {
      const model = await upscales.resolveModel(body.model_id, 'model_id');
      const settings = { model_id: model.uuid, input: body.input };
      c.set('errorSettings', settings);
      const r = await upscales.run(c.get('auth'), body.input, model.id, { source: 'api', requestId: c.get('requestId') });
      const up = imageUrl(c, options.publicUrl, imageAccess, r.imageKey);
      return c.json(
        {
          outputs: [{ id: r.id, url: up, image_url: imageUrl(c, options.publicUrl, imageAccess, r.sourceKey), upscaled_image_url: up }],
          remaining_credits: r.balance,
          settings,
        },
        200,
      );
    },
    { aliases: ['/v1/image/upscale'], middleware: [idempotent(services.idempotency)] },
  );
}
