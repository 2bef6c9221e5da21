/** POST /v1/image/upload: an init image (or an image to upscale), multipart field `file`. */
import { createRoute, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { ImageTooLargeError, InsufficientCreditsError, InvalidImageError } from '../../core/errors.ts';
import { MAX_UPLOAD_BYTES } from '../../core/images.ts';
import type { ApiServices } from '../env.ts';
import type { Mount } from '../route.ts';
import { errorResponses, secured } from './openapi.ts';
import { UploadResponse } from './schemas.ts';

export function registerUpload(mount: Mount, services: ApiServices): void {
  const { images, credits } = services;
  mount(
    createRoute({
      method: 'post',
      path: '/v1/image/upload',
      operationId: 'uploadImage',
      tags: ['Generation'],
      summary: 'Upload an image for init_image_url or an upscale input',
      description: 'JPEG, PNG or WebP, at most 10 MB. Answers an s3:// name only this account can use. Needs a positive credit balance (as on Stablecog).',
      ...secured,
      request: {
        body: {
          required: true,
          content: { 'multipart/form-data': { schema: z.object({ file: z.string().openapi({ type: 'string', format: 'binary' }) }) } },
        },
      },
      responses: { 200: { description: 'The uploaded object, to pass as init_image_url.', content: { 'application/json': { schema: UploadResponse } } }, ...errorResponses },
    }),
    async (c) => {
      const user = c.get('auth').user;
      if ((await credits.balance(user.id)) <= 0) throw new InsufficientCreditsError(1, 0);
      let form: Record<string, unknown>;
      try {
        form = await c.req.parseBody();
      } catch {
        throw new InvalidImageError('file', 'send the image as multipart/form-data in a field named "file"');
      }
      const file = form['file'];
      if (!(file instanceof File)) throw new InvalidImageError('file', 'send the image as multipart/form-data in a field named "file"');
      const { object } = await images.upload(user.id, new Uint8Array(await file.arrayBuffer()));
      return c.json({ object }, 200);
    },
    {
      middleware: [
        bodyLimit({
          maxSize: MAX_UPLOAD_BYTES + 64 * 1024,
          onError: () => {
            throw new ImageTooLargeError('file', `uploads are limited to ${MAX_UPLOAD_BYTES / 1024 / 1024} MB`);
          },
        }),
      ],
    },
  );
}
