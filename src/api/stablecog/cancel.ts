/**
 * POST /v1/image/generation/{id}/cancel: Darkroom's own route (Stablecog's API has no cancel). The
 * caller's generation, while queued or running, ends failed with reason `cancelled` and its
 * unfinished outputs refunded; its SSE stream hears that end.
 */
import { createRoute } from '@hono/zod-openapi';
import type { ApiServices } from '../env.ts';
import type { Mount } from '../route.ts';
import { errorResponses, secured } from './openapi.ts';
import { CancelResponse, ErrorResponse, IdParam } from './schemas.ts';

const errorJson = { 'application/json': { schema: ErrorResponse } } as const;

export function registerCancel(mount: Mount, services: ApiServices): void {
  const { generations } = services;
  mount(
    createRoute({
      method: 'post',
      path: '/v1/image/generation/{id}/cancel',
      operationId: 'cancelGeneration',
      tags: ['Generation'],
      summary: 'Cancel a queued or running generation (Darkroom)',
      description:
        'A Darkroom extension (Stablecog has no cancel). The generation id comes from the `queued` event on /v1/sse (or any listing). ' +
        'It ends failed with failure reason `cancelled`; every output it had not made is refunded, once. A running one stops at its next denoising step, wherever it runs.',
      ...secured,
      request: { params: IdParam },
      responses: {
        200: { description: 'Cancelled, with the credits refunded.', content: { 'application/json': { schema: CancelResponse } } },
        404: { description: 'No generation of yours with that id (generation_not_found).', content: errorJson },
        409: { description: 'The generation has already ended (succeeded or failed); the description says which.', content: errorJson },
        ...errorResponses,
      },
    }),
    async (c, { params }) => {
      const { generation, refunded } = await generations.cancel(c.get('auth').user.id, params.id);
      return c.json({ id: generation.id, status: 'failed' as const, failure_reason: 'cancelled' as const, refunded_credits: refunded }, 200);
    },
  );
}
