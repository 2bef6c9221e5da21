/** LoRA discovery (Darkroom's own route; no key needed, like the model listing). */
import { createRoute } from '@hono/zod-openapi';
import type { ApiServices } from '../env.ts';
import type { Mount } from '../route.ts';
import { publicErrorResponses } from './openapi.ts';
import { LorasResponse } from './schemas.ts';

export function registerLoras(mount: Mount, services: ApiServices): void {
  mount(
    createRoute({
      method: 'get',
      path: '/v1/loras',
      operationId: 'listLoras',
      tags: ['Models'],
      summary: 'Installed LoRA adapters',
      description:
        'Darkroom: every LoRA adapter in the LoRA folder (DARKROOM_LORAS_DIR), by name, with its UUID, the base model family it was made for and its size. A create request names them in loras or as <lora:name:weight> in the prompt.',
      responses: { 200: { description: 'The installed LoRAs.', content: { 'application/json': { schema: LorasResponse } } }, ...publicErrorResponses },
    }),
    async (c) => {
      const loras = (await services.loras?.list()) ?? [];
      return c.json({ loras: loras.map((l) => ({ name: l.name, id: l.uuid, base_model_family: l.family ?? null, size_bytes: l.bytes })) }, 200);
    },
  );
}
