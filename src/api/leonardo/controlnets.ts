/**
 * Leonardo's image guidance (`controlnets[]`) onto the engine's ControlNets. Leonardo names a
 * ControlNet by preprocessorId; Darkroom serves those whose preprocessing it computes itself, each
 * through the model's ControlNet of the matching name (docs/controlnet.md). Ids Leonardo documents but
 * Darkroom does not serve are refused naming what they are; other ids are refused as unknown.
 */
import { z } from '@hono/zod-openapi';
import { ImageNotFoundError, ValidationError } from '../../core/errors.ts';
import type { SpecControlNet } from '../../core/generations.ts';
import { OUTPUT_REF, type ImageInputs } from '../../core/images.ts';
import { MAX_CONTROLNETS, MAX_CONTROLNET_WEIGHT } from '../../engine/pipelines/check-request.ts';
import type { ControlPreprocessor } from '../../engine/pipelines/request.ts';

/** Leonardo's preprocessor ids (its image guidance guide, SDXL column) that Darkroom serves. */
export const SERVED_PREPROCESSORS: Readonly<Record<number, { what: string; controlNet: string; preprocessor: ControlPreprocessor }>> = {
  19: { what: 'Edge to Image', controlNet: 'canny', preprocessor: 'canny' },
};

/** Ids Leonardo documents that need a model Darkroom does not have (a depth estimator, a pose detector, an image encoder...). */
export const UNSERVED_PREPROCESSORS: Readonly<Record<number, string>> = {
  20: 'Depth to Image',
  21: 'Pose to Image',
  67: 'Style Reference',
  100: 'Content Reference',
  133: 'Character Reference',
};

export const STRENGTH_TYPES = ['Low', 'Mid', 'High', 'Ultra', 'Max'] as const;
type StrengthType = (typeof STRENGTH_TYPES)[number];

/** Leonardo buckets weight 0-2 into strength types of 0.4 each; each maps to its bucket's middle (High = 1, the ControlNet's trained scale). */
export const STRENGTH_WEIGHTS: Readonly<Record<StrengthType, number>> = { Low: 0.2, Mid: 0.6, High: 1, Ultra: 1.4, Max: 1.8 };

const servedIds = Object.keys(SERVED_PREPROCESSORS).join(', ');

export const ControlnetsInput = z
  .array(
    z.object({
      initImageId: z.string({ error: 'controlnets[].initImageId: must be a string' }).max(200).openapi({ description: 'The control image: an init image id (UPLOADED) or a generated image id (GENERATED).' }),
      initImageType: z
        .enum(['UPLOADED', 'GENERATED'], { error: 'controlnets[].initImageType: must be UPLOADED or GENERATED' })
        .nullish()
        .openapi({ description: 'Default UPLOADED.' }),
      preprocessorId: z
        .number({ error: 'controlnets[].preprocessorId: must be an integer' })
        .int({ error: 'controlnets[].preprocessorId: must be an integer' })
        .openapi({ description: `Which guidance. Served: ${Object.entries(SERVED_PREPROCESSORS).map(([id, p]) => `${id} (${p.what})`).join(', ')}.` }),
      strengthType: z
        .enum(STRENGTH_TYPES, { error: `controlnets[].strengthType: must be one of ${STRENGTH_TYPES.join(', ')}` })
        .nullish()
        .openapi({ description: `The weight as Leonardo buckets it: ${Object.entries(STRENGTH_WEIGHTS).map(([k, v]) => `${k} ${v}`).join(', ')}. Give strengthType or weight, not both.` }),
      weight: z
        .number({ error: 'controlnets[].weight: must be a number' })
        .min(0, { error: `controlnets[].weight: must be between 0 and ${MAX_CONTROLNET_WEIGHT}` })
        .max(MAX_CONTROLNET_WEIGHT, { error: `controlnets[].weight: must be between 0 and ${MAX_CONTROLNET_WEIGHT}` })
        .nullish()
        .openapi({ description: `0-${MAX_CONTROLNET_WEIGHT}; default 1 (High).` }),
    }),
    { error: 'controlnets: must be a list of { initImageId, initImageType, preprocessorId, strengthType, weight }' },
  )
  .max(MAX_CONTROLNETS, { error: `controlnets: at most ${MAX_CONTROLNETS}` })
  .nullish()
  .openapi({ description: `Image guidance through the model's ControlNets (docs/controlnet.md). Served preprocessorIds: ${servedIds}; others are refused naming them.` });

type ControlnetsBody = NonNullable<z.infer<typeof ControlnetsInput>>;

/** The request's controlnets as the core takes them, each image checked as the user's before any charge. */
export async function leonardoControlNets(images: ImageInputs, userId: string, list: ControlnetsBody): Promise<SpecControlNet[]> {
  const out: SpecControlNet[] = [];
  for (const [i, c] of list.entries()) {
    const at = `controlnets[${i}]`;
    const served = SERVED_PREPROCESSORS[c.preprocessorId];
    if (!served) {
      const known = UNSERVED_PREPROCESSORS[c.preprocessorId];
      throw new ValidationError(
        `${at}.preprocessorId`,
        known
          ? `${at}.preprocessorId: ${c.preprocessorId} (${known}) is not served here: it needs a model this server does not have (served: ${servedIds})`
          : `${at}.preprocessorId: unknown preprocessor ${c.preprocessorId} (served: ${servedIds})`,
      );
    }
    if (c.strengthType != null && c.weight != null) throw new ValidationError(`${at}.weight`, `${at}: give strengthType or weight, not both`);
    let imageUrl: string;
    if (c.initImageType === 'GENERATED') {
      imageUrl = OUTPUT_REF + c.initImageId;
      await images.resolve(userId, imageUrl, `${at}.initImageId`);
    } else {
      const upload = await images.findUpload(userId, c.initImageId);
      if (!upload) throw new ImageNotFoundError(`${at}.initImageId`, `${at}.initImageId: no uploaded init image ${c.initImageId} of yours (upload it first: POST /init-image)`);
      imageUrl = upload.object;
    }
    out.push({
      name: served.controlNet,
      preprocessor: served.preprocessor,
      weight: c.weight ?? STRENGTH_WEIGHTS[c.strengthType ?? 'High'],
      imageUrl,
    });
  }
  return out;
}
