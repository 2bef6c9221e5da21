/**
 * The Leonardo dialect under /api/rest/v1: the official SDK (@leonardo-ai/sdk) works with only its
 * serverURL (http://host:port/api/rest/v1) and key changed. Asynchronous generations on the core's
 * queue, presigned init-image uploads, webhooks (webhook.ts, fired by the worker through the core),
 * Leonardo's error envelope (errors.ts). Handlers only call core services.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { registerBearer, requireApiKey } from '../auth.ts';
import type { ApiOptions, ApiServices, Env } from '../env.ts';
import { mounter } from '../route.ts';
import { registerAccount } from './account.ts';
import { leonardoErrorHandler } from './errors.ts';
import { registerElements } from './elements.ts';
import { registerGenerations } from './generations.ts';
import { registerInitImages } from './init-images.ts';
import { registerVariations } from './variations.ts';

export function createLeonardoApp(services: ApiServices, options: ApiOptions): OpenAPIHono<Env> {
  const app = new OpenAPIHono<Env>();
  app.onError(leonardoErrorHandler(options.log));
  registerBearer(app);
  const mount = mounter(app, requireApiKey(services.accounts, services.rateLimiter), options.limits);
  registerGenerations(mount, services, options);
  registerElements(mount, services);
  registerInitImages(mount, services, options);
  registerVariations(mount, services, options);
  registerAccount(mount, services, options);
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}`, path: '$', code: 'not-found' }, 404));
  return app;
}
