/** Leonardo's variation shapes (the SDK's GeneratedImageVariationGeneric and SDUpscaleJob). */
import { z } from '@hono/zod-openapi';

export const VARIATION_TYPES = ['OUTPAINT', 'INPAINT', 'UPSCALE', 'UNZOOM', 'NOBG'] as const;

export const VariationGenericSchema = z
  .object({
    id: z.string(),
    createdAt: z.string(),
    status: z.enum(['PENDING', 'COMPLETE', 'FAILED']),
    transformType: z.enum(VARIATION_TYPES),
    url: z.string().nullable().openapi({ description: 'The variation image, once COMPLETE.' }),
  })
  .openapi('LeonardoVariationGeneric');
export type VariationGeneric = z.infer<typeof VariationGenericSchema>;

export const UpscaleVariationInput = z
  .object({ id: z.string({ error: 'id: is required' }).max(200, { error: 'id: must be at most 200 characters' }).openapi({ description: 'One of your generated images (generated_images[].id).' }) })
  .openapi('LeonardoUpscaleVariationInput');

export const UpscaleVariationJob = z
  .object({
    sdUpscaleJob: z.object({
      id: z.string().openapi({ description: 'The variation id: GET /variations/{id}.' }),
      apiCreditCost: z.number().int().openapi({ description: 'Credits taken (refunded if it fails; 0 for an image upscaled before).' }),
      cost: z.object({ amount: z.string(), unit: z.literal('CREDITS') }),
    }),
  })
  .openapi('LeonardoUpscaleVariationJob');

export const VariationById = z.object({ generated_image_variation_generic: z.array(VariationGenericSchema) }).openapi('LeonardoVariationById');

const creditCost = {
  apiCreditCost: z.number().int().openapi({ description: 'Credits taken (refunded if it fails).' }),
  cost: z.object({ amount: z.string(), unit: z.literal('CREDITS') }),
};

export const UnzoomVariationInput = z
  .object({
    id: z.string({ error: 'id: is required' }).max(200, { error: 'id: must be at most 200 characters' }).openapi({ description: 'One of your generated images (generated_images[].id), or with isVariation one of your variations.' }),
    isVariation: z.boolean({ error: 'isVariation: must be true or false' }).nullable().optional().openapi({ description: 'Whether id is a variation id (an unzoom or universal upscale of yours) rather than a generated image.' }),
  })
  .openapi('LeonardoUnzoomVariationInput');

export const UnzoomVariationJob = z
  .object({ sdUnzoomJob: z.object({ id: z.string().openapi({ description: 'The variation id: GET /variations/{id}.' }), ...creditCost }) })
  .openapi('LeonardoUnzoomVariationJob');

const multiplierError = { error: 'upscaleMultiplier: must be a number between 1.0 and 2.0' };
const creativityError = { error: 'creativityStrength: must be an integer between 1 and 10' };

export const UniversalUpscalerInput = z
  .object({
    generatedImageId: z.string({ error: 'generatedImageId: must be a string' }).max(200, { error: 'generatedImageId: must be at most 200 characters' }).nullable().optional().openapi({ description: 'One of your generated images (generated_images[].id).' }),
    variationId: z.string({ error: 'variationId: must be a string' }).max(200, { error: 'variationId: must be at most 200 characters' }).nullable().optional().openapi({ description: 'One of your variations (an unzoom or universal upscale), instead of generatedImageId.' }),
    initImageId: z.string().nullable().optional().openapi({ description: 'Not served: refused (upscale a generated image or a variation).' }),
    upscaleMultiplier: z.number(multiplierError).min(1, multiplierError).max(2, multiplierError).nullable().optional().openapi({ description: 'How many times larger, 1.0-2.0 (default 1.5); the result must fit the model\'s size limits.' }),
    creativityStrength: z.number(creativityError).int(creativityError).min(1, creativityError).max(10, creativityError).nullable().optional().openapi({ description: 'How freely the larger image is redrawn, 1-10 (default 5): an image-to-image pass at strength creativityStrength / 20.' }),
    prompt: z.string({ error: 'prompt: must be a string' }).max(1500, { error: 'prompt: must be at most 1500 characters' }).nullable().optional().openapi({ description: "The redraw's prompt (default the image's own)." }),
    upscalerStyle: z.string().nullable().optional().openapi({ description: 'Accepted without effect (the SDK always sends it).' }),
    ultraUpscaleStyle: z.string().nullable().optional().openapi({ description: 'Not served: refused.' }),
    detailContrast: z.number().nullable().optional().openapi({ description: 'Not served (an ultraUpscaleStyle option): refused.' }),
    similarity: z.number().nullable().optional().openapi({ description: 'Not served (an ultraUpscaleStyle option): refused.' }),
  })
  .openapi('LeonardoUniversalUpscalerInput');

export const UniversalUpscalerJob = z
  .object({ universalUpscaler: z.object({ id: z.string().openapi({ description: 'The variation id: GET /variations/{id}.' }), ...creditCost }) })
  .openapi('LeonardoUniversalUpscalerJob');
