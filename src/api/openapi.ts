/** The OpenAPI 3.1 document, generated from the route schemas (committed as openapi.json; `npm run openapi` rewrites it). */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Env } from './env.ts';

export function openApiDocument(app: OpenAPIHono<Env>, version: string): ReturnType<OpenAPIHono<Env>['getOpenAPI31Document']> {
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Darkroom API',
      version,
      description:
        'Self-hosted text-to-image. This document covers the Stablecog dialect: a client written for api.stablecog.com works by changing only the host and the key. ' +
        'Errors are `{"error": <Stablecog code or message>, "field"?, "description"?, "settings"?}`.',
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    },
    tags: [
      { name: 'Generation', description: 'Making images, listing them, live progress.' },
      { name: 'Upscale', description: 'Making images larger.' },
      { name: 'Models', description: 'What can be asked for, and the defaults.' },
      { name: 'Account', description: 'Credits, API keys, usage.' },
      { name: 'Images', description: 'Stored images.' },
      { name: 'Server', description: 'Health.' },
    ],
  });
}
