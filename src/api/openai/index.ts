/**
 * The OpenAI Images dialect: a client written for OpenAI's Images API (the official `openai` SDK
 * with baseURL http://host:port/v1) works by changing only the base URL and the key. Its own error
 * envelope (errors.ts), Bearer API keys. Handlers only call core services.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { registerBearer, requireApiKey } from '../auth.ts';
import type { ApiOptions, ApiServices, Env } from '../env.ts';
import { mounter } from '../route.ts';
import { openaiErrorHandler } from './errors.ts';
import { registerImages } from './images.ts';
import { registerModels } from './models.ts';

export function createOpenAIApp(services: ApiServices, options: ApiOptions): OpenAPIHono<Env> {
  const app = new OpenAPIHono<Env>();
  app.onError(openaiErrorHandler(options.log));
  registerBearer(app);
  const mount = mounter(app, requireApiKey(services.accounts, services.rateLimiter), options.limits);
  registerImages(mount, services, options);
  registerModels(mount, services);
  return app;
}
