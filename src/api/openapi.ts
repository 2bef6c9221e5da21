/** The OpenAPI 3.1 document, generated from the route schemas (committed as openapi.json; `npm run openapi` rewrites it). */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Env } from './env.ts';

type Document = ReturnType<OpenAPIHono<Env>['getOpenAPI31Document']>;

export function openApiDocument(app: OpenAPIHono<Env>, version: string): Document {
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Darkroom API',
      version,
      description:
        'Self-hosted text-to-image. One core, several dialects: a client written for Stablecog, Stability (Stable Image Core), Leonardo or OpenAI ' +
        "Images works by changing only the host and the key. Each dialect answers errors in its own envelope: Stablecog " +
        '`{"error", "field"?, "description"?, "settings"?}`; Stability `{"id", "name", "errors": []}` (v2beta) or `{"code": -1, "message"}` (/api/generate/core); ' +
        'Leonardo `{"error", "path": "$", "code"}`; OpenAI `{"error": {"message", "type", "param", "code"}}`.',
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    },
    tags: [
      { name: 'Generation', description: 'Making images, listing them, live progress.' },
      { name: 'Upscale', description: 'Making images larger.' },
      { name: 'Models', description: 'What can be asked for, and the defaults.' },
      { name: 'Account', description: 'Credits, API keys, usage.' },
      { name: 'Stability', description: "Stability's Stable Image Core: seed 002's /api/generate/core (JSON, base64) and Stability's own /v2beta/stable-image/generate/core (multipart, image bytes or JSON)." },
      { name: 'Leonardo', description: "Leonardo's REST API under /api/rest/v1 (the official SDK works with serverURL set to it): asynchronous generations, presigned init-image uploads, webhooks." },
      { name: 'OpenAI', description: "OpenAI's Images API under /v1/images (the official SDK works with baseURL http://host:port/v1)." },
      { name: 'Images', description: 'Stored images.' },
      { name: 'Server', description: 'Health.' },
    ],
  });
}

/** The document as served: its server is DARKROOM_PUBLIC_URL when set, else the origin the request came to (urls.ts). */
export function withServer(document: Document, url: string): Document {
  return { ...document, servers: [{ url, description: 'This Darkroom server.' }] };
}
