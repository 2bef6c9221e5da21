/** GET /me (the caller and its credits) and GET /platformModels (Darkroom's models, and the Leonardo ids mapped to them). */
import { createRoute } from '@hono/zod-openapi';
import type { ApiOptions, ApiServices } from '../env.ts';
import type { Mount } from '../route.ts';
import { errorResponses, secured } from './openapi.ts';
import { Me, PlatformModels } from './schemas.ts';
import { LEONARDO_DEFAULT_MODEL_ID } from './wire.ts';
import { isUuid } from '../../core/uuid.ts';
import { modelLimits, narrow, type CatalogModel } from '../../core/models.ts';
import { LEONARDO_SCHEDULER_NAMES, LEONARDO_SCHEDULERS } from './schedulers.ts';
import { LIMITS } from './schemas.ts';

function limitsOf(model: CatalogModel) {
  const m = modelLimits(model);
  const side = { min: LIMITS.minSize, max: LIMITS.maxSize };
  return {
    width: narrow(side, m.width),
    height: narrow(side, m.height),
    num_images: narrow({ min: 1, max: LIMITS.maxImages }, m.outputs),
    num_inference_steps: narrow({ min: LIMITS.minSteps, max: LIMITS.maxSteps }, m.steps),
    guidance_scale: narrow({ min: LIMITS.minGuidance, max: LIMITS.maxGuidance }, m.guidance),
    scheduler: LEONARDO_SCHEDULER_NAMES.filter((k) => m.schedulers.includes(LEONARDO_SCHEDULERS[k]!)),
  };
}

export function registerAccount(mount: Mount, services: ApiServices, options: ApiOptions): void {
  mount(
    createRoute({
      method: 'get',
      path: '/api/rest/v1/me',
      operationId: 'leonardoGetUserSelf',
      tags: ['Leonardo'],
      summary: 'The caller: id (for /generations/user/{userId}), name, credits',
      ...secured,
      responses: { 200: { description: 'One user_details entry.', content: { 'application/json': { schema: Me } } }, ...errorResponses },
    }),
    async (c) => {
      const user = c.get('auth').user;
      const balance = await services.credits.balance(user.id);
      return c.json(
        {
          user_details: [
            {
              user: { id: user.id, username: user.name },
              apiSubscriptionTokens: balance,
              apiPaidTokens: 0,
              apiConcurrencySlots: options.maxInFlight ?? 1,
              apiPlanTokenRenewalDate: null,
              subscriptionTokens: 0,
              subscriptionGptTokens: 0,
              subscriptionModelTokens: 0,
              paidTokens: 0,
              tokenRenewalDate: null,
            },
          ],
        },
        200,
      );
    },
  );

  mount(
    createRoute({
      method: 'get',
      path: '/api/rest/v1/platformModels',
      operationId: 'leonardoListPlatformModels',
      tags: ['Leonardo'],
      summary: "Darkroom's models as Leonardo platform models",
      description:
        "Each installed model by its UUID (use it as modelId), then each Leonardo model id that DARKROOM_LEONARDO_MODELS maps, and the SDK's default id, described as the model they stand for. " +
        'Each entry\'s darkroom_limits gives the ranges POST /generations may ask of that model.',
      ...secured,
      responses: { 200: { description: 'The models.', content: { 'application/json': { schema: PlatformModels } } }, ...errorResponses },
    }),
    async (c) => {
      const models = await services.catalog.list();
      const def = models.find((m) => m.isDefault);
      const entry = (id: string, name: string, description: string, featured: boolean, m: CatalogModel) => ({
        id,
        name,
        description,
        nsfw: false,
        featured,
        generated_image: null,
        darkroom_limits: limitsOf(m),
        darkroom_controlnets: m.controlNets,
      });
      const out = models.map((m) => entry(m.uuid, m.name, m.description ?? `Darkroom model ${m.id}`, m.isDefault, m));
      const map = options.leonardoModels ?? {};
      const aliases = new Map<string, string>(Object.entries(map).filter(([k]) => isUuid(k)));
      if (!aliases.has(LEONARDO_DEFAULT_MODEL_ID) && def) aliases.set(LEONARDO_DEFAULT_MODEL_ID, def.id);
      for (const [leonardoId, target] of aliases) {
        const m = models.find((x) => x.id === target || x.uuid === target);
        if (m) out.push(entry(leonardoId, `${m.name} (as Leonardo model ${leonardoId})`, `Leonardo's model id ${leonardoId}, served by Darkroom model ${m.id}.`, false, m));
      }
      return c.json({ custom_models: out }, 200);
    },
  );
}
