/**
 * GET /images/<key>: stored images by URL. Public outputs: anyone. Private ones: their owner's
 * API key, or a URL Darkroom signed that has not expired (`?exp=&sig=`). Anyone else, and an
 * expired or altered URL: 404, as if it did not exist.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { ApiServices, Env } from './env.ts';
import { optionalUserId } from './auth.ts';

export const imageRoute = createRoute({
  method: 'get',
  path: '/images/{key}',
  operationId: 'getImage',
  tags: ['Images'],
  summary: 'A stored image (the URLs in API answers point here)',
  description:
    'key is an object key such as outputs/<id>.png (it may contain "/"). Private images need `exp` and `sig` as in the URLs Darkroom hands out ' +
    "(valid for DARKROOM_SIGNED_URL_TTL seconds, default 3600; every answer signs afresh) or the owner's API key.",
  request: {
    params: z.object({ key: z.string() }),
    query: z.object({
      exp: z.string().optional().openapi({ description: 'Unix time (seconds) the signature expires.' }),
      sig: z.string().optional().openapi({ description: 'HMAC of the key and exp.' }),
    }),
  },
  security: [{}, { bearer: [] }],
  responses: {
    200: { description: 'The image.', content: { 'image/png': { schema: z.string().openapi({ format: 'binary' }) } } },
    404: { description: 'No such image, not yours, or a signed URL that expired or was altered.', content: { 'application/json': { schema: z.object({ error: z.string() }) } } },
  },
});

export function registerImages(app: OpenAPIHono<Env>, services: ApiServices): void {
  const { imageAccess, store, accounts } = services;
  app.openAPIRegistry.registerPath(imageRoute);
  app.get('/images/*', async (c) => {
    const key = decodeURIComponent(c.req.path.slice('/images/'.length));
    const notFound = () => c.json({ error: 'not_found' }, 404);
    if (!/^[A-Za-z0-9_][A-Za-z0-9_./-]*$/.test(key) || key.includes('..')) return notFound();
    const viewer = await optionalUserId(accounts, c.req.header('authorization'));
    if (!(await imageAccess.canView(key, viewer, { exp: c.req.query('exp'), sig: c.req.query('sig') }))) return notFound();
    const obj = await store.get(key);
    if (!obj) return notFound();
    return c.body(obj.bytes as Uint8Array<ArrayBuffer>, 200, {
      'Content-Type': obj.contentType,
      'Cache-Control': 'private, max-age=31536000, immutable',
      'X-Content-Type-Options': 'nosniff',
    });
  });
}
