/** Leonardo's elements (its LoRAs): the adapters installed on this server, each by its stable UUID (akUUID). */
import { createRoute } from '@hono/zod-openapi';
import { MAX_LORA_WEIGHT } from '../../engine/lora/library.ts';
import type { ApiServices } from '../env.ts';
import type { Mount } from '../route.ts';
import { errorResponses, secured } from './openapi.ts';
import { ElementsResponse } from './schemas.ts';
import { sdVersionOf } from './wire.ts';

export function registerElements(mount: Mount, services: ApiServices): void {
  mount(
    createRoute({
      method: 'get',
      path: '/api/rest/v1/elements',
      operationId: 'leonardoListElements',
      tags: ['Leonardo'],
      summary: 'Elements: the LoRA adapters installed on this server',
      description: 'A create request applies them with elements: [{ akUUID, weight }]. baseModel is null when the file does not say which model family it was made for.',
      ...secured,
      responses: { 200: { description: 'The installed LoRAs.', content: { 'application/json': { schema: ElementsResponse } } }, ...errorResponses },
    }),
    async (c) => {
      const loras = (await services.loras?.list()) ?? [];
      return c.json(
        {
          loras: loras.map((l) => ({
            akUUID: l.uuid,
            name: l.name,
            description: null,
            baseModel: l.family ? sdVersionOf(l.family) : null,
            creatorName: null,
            urlImage: null,
            weightDefault: 1,
            weightMin: -MAX_LORA_WEIGHT,
            weightMax: MAX_LORA_WEIGHT,
          })),
        },
        200,
      );
    },
  );
}
