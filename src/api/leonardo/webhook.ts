/**
 * The Leonardo webhook payload (reference/peer-apis.md §2.7): POSTed to the callback URL of the API
 * key a Leonardo-dialect generation was made with, once it is COMPLETE. Failed generations send
 * nothing (Leonardo documents only the completion event). Image URLs are signed links on the origin
 * the client used (or DARKROOM_PUBLIC_URL).
 */
import type { WebhookContext } from '../../core/webhooks.ts';
import { generationRefund } from '../../core/pricing.ts';
import { priceOf } from '../../core/generations.ts';
import { modelUuid } from '../../core/models.ts';
import { extraOf, generationObject } from './wire.ts';

export function leonardoWebhookPayload(ctx: WebhookContext): unknown {
  const { generation: gen, outputs, settings, key } = ctx;
  if (gen.status !== 'succeeded') return undefined;
  const x = extraOf(settings);
  const base = x.baseUrl ?? '';
  const url = (objectKey: string) => base + ctx.imagePath(objectKey);
  const g = generationObject(gen, outputs, settings, url);
  const cost = Number(gen.cost) - generationRefund(priceOf(gen), gen.num_outputs - outputs.length);
  return {
    type: 'image_generation.complete',
    object: 'generation',
    timestamp: Date.now(),
    api_version: 'v1',
    data: {
      object: {
        id: gen.id,
        createdAt: gen.created_at,
        updatedAt: gen.completed_at ?? gen.created_at,
        userId: gen.user_id,
        public: settings.isPublic,
        flagged: false,
        nsfw: outputs.some((o) => o.nsfw === 1),
        status: 'COMPLETE',
        coreModel: 'SD',
        guidanceScale: gen.guidance,
        imageHeight: gen.height,
        imageWidth: gen.width,
        inferenceSteps: gen.steps,
        initGeneratedImageId: x.initGenerationImageId ?? null,
        initImageId: x.initImageId ?? null,
        initStrength: x.initStrength ?? null,
        modelId: g['modelId'],
        negativePrompt: g['negativePrompt'],
        prompt: g['prompt'],
        quantity: gen.num_outputs,
        sdVersion: g['sdVersion'],
        tiling: settings.request.tiling === true,
        seed: String(g['seed']),
        scheduler: g['scheduler'] ?? null,
        presetStyle: g['presetStyle'],
        promptMagic: g['promptMagic'],
        promptMagicStrength: g['promptMagicStrength'],
        promptMagicVersion: g['promptMagicVersion'],
        photoReal: g['photoReal'],
        photoRealStrength: g['photoRealStrength'],
        ultra: g['ultra'],
        apiCreditCost: cost,
        apiDollarCost: '0',
        model: { id: modelUuid(gen.model), name: gen.model },
        images: outputs.map((o) => ({
          id: o.id,
          url: url(o.image_key),
          generationId: gen.id,
          nsfw: o.nsfw === 1,
          likeCount: 0,
          public: settings.isPublic,
          createdAt: o.created_at,
        })),
        apiKey: { id: key.id, name: key.name, type: 'PRODUCTION', webhookCallbackUrl: key.webhook_url },
      },
    },
  };
}
