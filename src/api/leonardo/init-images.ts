/**
 * Leonardo's presigned init-image flow (reference/peer-apis.md §2.4): POST /init-image hands out an
 * id, an upload URL (Darkroom's own POST /init-image/upload) and `fields` carrying a signed token valid
 * for 2 minutes; the client POSTs the fields and the file there, multipart, without its API key (as it
 * would to S3); the id then works as init_image_id. GET and DELETE /init-image/{id}. POST
 * /canvas-init-image hands out two such slots at once, the canvas editor's init image and mask.
 */
import { randomUUID } from 'node:crypto';
import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ForbiddenError, ImageTooLargeError, InvalidImageError, ValidationError } from '../../core/errors.ts';
import { MAX_UPLOAD_BYTES, userPrefix } from '../../core/images.ts';
import type { ApiOptions, ApiServices, Env } from '../env.ts';
import { filesOf, readForm, textFields } from '../multipart.ts';
import type { Mount } from '../route.ts';
import { baseUrl, imageUrl } from '../urls.ts';
import { errorResponses, secured } from './openapi.ts';
import {
  CanvasInitImageInput,
  CanvasInitImageUpload,
  DeletedInitImage,
  IdParam,
  INIT_EXTENSIONS,
  InitImageByPk,
  InitImageInput,
  InitImageUpload,
  LeonardoError,
  UploadForm,
} from './schemas.ts';

export const UPLOAD_PATH = '/api/rest/v1/init-image/upload';
/** Leonardo: "within 2 minutes". */
export const UPLOAD_TTL_MS = 2 * 60 * 1000;

export function registerInitImages(mount: Mount, services: ApiServices, options: ApiOptions): void {
  const { images, imageAccess, uploadTokens } = services;

  /** One presigned slot: an id, the upload URL and the fields carrying its signed token. `field`: the extension's (none for /init-image, as Leonardo answers). */
  const slot = (c: Context<Env>, field: string, extension: string) => {
    const ext = extension.toLowerCase().replace(/^\./, '');
    if (!(INIT_EXTENSIONS as readonly string[]).includes(ext)) throw new ValidationError(field, `${field ? `${field}: ` : ''}invalid file extension`);
    const userId = c.get('auth').user.id;
    const id = randomUUID();
    const { token } = uploadTokens.issue({ id, userId, ext }, UPLOAD_TTL_MS);
    const key = `uploads/${userPrefix(userId)}/${id}.${ext === 'jpeg' ? 'jpg' : ext}`;
    const contentType = ext === 'png' ? 'image/png' : ext === 'webp' ? 'image/webp' : 'image/jpeg';
    return { id, url: baseUrl(c, options.publicUrl) + UPLOAD_PATH, key, fields: JSON.stringify({ key, token, 'Content-Type': contentType }) };
  };

  mount(
    createRoute({
      method: 'post',
      path: '/api/rest/v1/init-image',
      operationId: 'leonardoUploadInitImage',
      tags: ['Leonardo'],
      summary: 'Ask for an init-image upload slot (presigned)',
      description: `Then POST \`fields\` (parsed from its JSON) and the binary \`file\`, multipart, to \`url\` within 2 minutes. extension: ${INIT_EXTENSIONS.join(', ')}.`,
      ...secured,
      request: { body: { required: true, content: { 'application/json': { schema: InitImageInput } } } },
      responses: { 200: { description: 'The slot.', content: { 'application/json': { schema: InitImageUpload } } }, ...errorResponses },
    }),
    (c, { body }) => {
      const { id, url, key, fields } = slot(c, '', body.extension);
      return c.json({ uploadInitImage: { id, url, key, fields } }, 200);
    },
  );

  mount(
    createRoute({
      method: 'post',
      path: '/api/rest/v1/canvas-init-image',
      operationId: 'leonardoUploadCanvasInitImage',
      tags: ['Leonardo'],
      summary: 'Ask for canvas upload slots: an init image and a mask (presigned)',
      description:
        'Two slots like POST /init-image: upload each file to its url with its fields within 2 minutes, then name them in a generation with canvasRequest: true, ' +
        `canvasInitId and canvasMaskId. The mask is white where to repaint, on black, the size of the init image. Extensions: ${INIT_EXTENSIONS.join(', ')}.`,
      ...secured,
      request: { body: { required: true, content: { 'application/json': { schema: CanvasInitImageInput } } } },
      responses: { 200: { description: 'The slots.', content: { 'application/json': { schema: CanvasInitImageUpload } } }, ...errorResponses },
    }),
    (c, { body }) => {
      const init = slot(c, 'initExtension', body.initExtension);
      const mask = slot(c, 'maskExtension', body.maskExtension);
      return c.json(
        {
          uploadCanvasInitImage: {
            initImageId: init.id,
            initUrl: init.url,
            initKey: init.key,
            initFields: init.fields,
            maskImageId: mask.id,
            maskUrl: mask.url,
            maskKey: mask.key,
            maskFields: mask.fields,
          },
        },
        200,
      );
    },
  );

  const json = { 'application/json': { schema: LeonardoError } } as const;
  mount(
    createRoute({
      method: 'post',
      path: UPLOAD_PATH,
      operationId: 'leonardoInitImageUploadTarget',
      tags: ['Leonardo'],
      summary: 'The presigned upload target (no API key: the token in the fields authorizes it)',
      request: { body: { required: true, content: { 'multipart/form-data': { schema: UploadForm } } } },
      responses: {
        204: { description: 'Stored; the id works as init_image_id.' },
        400: { description: 'No file, or not an image (PNG, JPEG or WebP).', content: json },
        403: { description: 'Missing, forged or expired token, or the slot was used already.', content: json },
        413: { description: 'Over 10 MB.', content: json },
      },
    }),
    async (c) => {
      const form = await readForm(c);
      const fields = textFields(form);
      const claims = fields['token'] ? uploadTokens.verify(fields['token']) : undefined;
      if (!claims) throw new ForbiddenError('the upload token is missing, not valid, or expired (ask POST /init-image for a new one)');
      if (await images.findUpload(claims.userId, claims.id)) throw new ForbiddenError('this upload slot was used already');
      const file = filesOf(form, 'file')[0];
      if (!file) throw new InvalidImageError('file', 'file: send the image as a multipart file field named "file"');
      await images.upload(claims.userId, new Uint8Array(await file.arrayBuffer()), 'file', claims.id);
      return c.body(null, 204);
    },
    {
      middleware: [
        bodyLimit({
          maxSize: MAX_UPLOAD_BYTES + 64 * 1024,
          onError: () => {
            throw new ImageTooLargeError('file', `file: uploads are limited to ${MAX_UPLOAD_BYTES / 1024 / 1024} MB`);
          },
        }),
      ],
    },
  );

  mount(
    createRoute({
      method: 'get',
      path: '/api/rest/v1/init-image/{id}',
      operationId: 'leonardoGetInitImage',
      tags: ['Leonardo'],
      summary: 'An uploaded init image',
      description: 'null while nothing was uploaded to the slot yet, or for an id that is not yours.',
      ...secured,
      request: { params: IdParam },
      responses: { 200: { description: 'The init image.', content: { 'application/json': { schema: InitImageByPk } } }, ...errorResponses },
    }),
    async (c, { params }) => {
      const up = await images.findUpload(c.get('auth').user.id, params.id);
      return c.json({ init_images_by_pk: up ? { id: up.id, createdAt: up.createdAt, url: imageUrl(c, options.publicUrl, imageAccess, up.key) } : null }, 200);
    },
  );

  mount(
    createRoute({
      method: 'delete',
      path: '/api/rest/v1/init-image/{id}',
      operationId: 'leonardoDeleteInitImage',
      tags: ['Leonardo'],
      summary: 'Delete an uploaded init image',
      ...secured,
      request: { params: IdParam },
      responses: { 200: { description: 'The deleted id (null: not one of yours).', content: { 'application/json': { schema: DeletedInitImage } } }, ...errorResponses },
    }),
    async (c, { params }) => {
      const deleted = await images.deleteUpload(c.get('auth').user.id, params.id);
      return c.json({ delete_init_images_by_pk: deleted ? { id: params.id } : null }, 200);
    },
  );
}

