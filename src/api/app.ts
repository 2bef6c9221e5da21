/**
 * The HTTP application: the Stablecog dialect, stored images, the OpenAPI document and its docs
 * page, and the web page (playground, gallery, keys, usage) at / with its modules and styles under /web/. Built from services, so tests run it in-process (app.request) or over a real socket.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OpenAPIHono } from '@hono/zod-openapi';
import { serveStatic } from '@hono/node-server/serve-static';
import type { ApiOptions, ApiServices, Env } from './env.ts';
import { crossOrigin } from './cors.ts';
import { registerImages } from './images.ts';
import { observeRequests, registerOps } from './ops.ts';
import { openApiDocument, withServer } from './openapi.ts';
import { baseUrl } from './urls.ts';
import { createStablecogApp } from './stablecog/index.ts';
import { createOpenAIApp } from './openai/index.ts';
import { createStabilityApp } from './stability/index.ts';
import { createLeonardoApp } from './leonardo/index.ts';
import { DIALECTS } from '../config/config.ts';
import { stablecogErrorHandler } from './stablecog/errors.ts';
import { notFoundInDialect } from './not-found.ts';
import { loggerWritingTo } from '../observability/logger.ts';
import { processMetrics } from '../observability/metrics.ts';
import { CachingRouter } from './route-cache.ts';

const DOCS_PAGE = fileURLToPath(new URL('../../web/docs.html', import.meta.url));
const WEB_PAGE = fileURLToPath(new URL('../../web/index.html', import.meta.url));
const WEB_DIR = fileURLToPath(new URL('../../web', import.meta.url));

export function createApp(services: ApiServices, options: ApiOptions): OpenAPIHono<Env> {
  const app = new OpenAPIHono<Env>({ router: new CachingRouter() });
  // Operations: request id, request log line and HTTP metrics for every request, CORS for the API's paths; /healthz, /readyz, /metrics.
  const metrics = options.metrics ?? processMetrics();
  const logger = options.logger ?? loggerWritingTo(options.log);
  const cors = crossOrigin([
    { prefix: '/v1/', allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key'], exposeHeaders: ['Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'X-Request-Id', 'Idempotent-Replayed'] },
    ...['/v2beta/', '/api/'].map((prefix) => ({ prefix, allowHeaders: ['Authorization', 'Content-Type', 'Accept', 'Idempotency-Key'], exposeHeaders: ['Retry-After', 'X-Request-Id', 'finish-reason', 'seed', 'Idempotent-Replayed'] })),
  ]);
  app.use('*', observeRequests({ metrics, logger, then: cors }));
  registerOps(app, { checks: options.readiness, metrics, logger, limits: options.limits });
  app.onError(stablecogErrorHandler(options.log));
  const dialects = new Set(options.dialects ?? DIALECTS);
  if (dialects.has('stablecog')) app.route('/', createStablecogApp(services, options));
  if (dialects.has('stability')) app.route('/', createStabilityApp(services, options));
  if (dialects.has('leonardo')) app.route('/', createLeonardoApp(services, options));
  if (dialects.has('openai')) app.route('/', createOpenAIApp(services, options));
  registerImages(app, services);

  // Made at the first request, not at start-up (0.12-0.17 s of `serve`'s start); the routes are all in by then.
  let document: ReturnType<typeof openApiDocument> | undefined;
  app.get('/openapi.json', (c) => c.json(withServer((document ??= openApiDocument(app, options.version)), baseUrl(c, options.publicUrl))));
  app.get('/docs', (c) => c.html(readFileSync(DOCS_PAGE, 'utf8')));
  app.get('/', (c) => c.html(readFileSync(WEB_PAGE, 'utf8')));
  app.use('/web/*', serveStatic({ root: WEB_DIR, rewriteRequestPath: (path) => path.slice('/web'.length) }));
  app.notFound(notFoundInDialect);
  return app;
}
