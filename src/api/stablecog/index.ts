/**
 * The Stablecog dialect (reference/peer-apis.md §1): its routes, its error envelope, Bearer API
 * keys. Handlers only call core services; no SQL, queue or engine here.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { requireApiKey } from '../auth.ts';
import type { ApiOptions, ApiServices, Env } from '../env.ts';
import { mounter } from '../route.ts';
import { registerAccount } from './account.ts';
import { registerCancel } from './cancel.ts';
import { stablecogErrorHandler } from './errors.ts';
import { registerGeneration } from './generation.ts';
import { registerLoras } from './loras.ts';
import { registerModels } from './models.ts';
import { registerOutputs } from './outputs.ts';
import { registerSse } from './sse.ts';
import { registerUpload } from './upload.ts';
import { registerUpscale } from './upscale.ts';

export function createStablecogApp(services: ApiServices, options: ApiOptions): OpenAPIHono<Env> {
  const app = new OpenAPIHono<Env>();
  app.onError(stablecogErrorHandler(options.log));
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key: printed once on first start, or made with `npx darkroom keys create --user NAME` or POST /v1/user/tokens.',
  });
  const mount = mounter(app, requireApiKey(services.accounts, services.rateLimiter), options.limits);
  mount(
    createRoute({
      method: 'get',
      path: '/v1/health',
      operationId: 'health',
      tags: ['Server'],
      summary: 'Health',
      responses: { 200: { description: 'The server is up.', content: { 'application/json': { schema: z.object({ status: z.literal('ok'), version: z.string() }).openapi('Health') } } } },
    }),
    (c) => c.json({ status: 'ok' as const, version: options.version }, 200),
  );
  registerGeneration(mount, services, options);
  registerCancel(mount, services);
  registerModels(mount, services);
  registerLoras(mount, services);
  registerOutputs(mount, services, options);
  registerUpload(mount, services);
  registerUpscale(mount, services, options);
  registerAccount(mount, services);
  registerSse(mount, services, options);
  return app;
}
