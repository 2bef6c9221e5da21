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
