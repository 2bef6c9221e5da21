/**
 * Darkroom's generation records in Leonardo's wire format (reference/peer-apis.md §2.3, §2.7): the
 * generations_by_pk object of GET /generations/{id} and GET /generations/user/{userId}, and the
 * object of the image_generation.complete webhook. A generation made through another dialect reads
 * back too, with values derived from its columns.
 */
import type { Generation, GenerationOutput } from '../../db/schema.ts';
import type { StoredSettings } from '../../core/generations.ts';
import { loraUuid } from '../../core/loras.ts';
import { MAX_LORA_WEIGHT } from '../../engine/lora/library.ts';
import { modelUuid } from '../../core/models.ts';
import type { ModelFamily } from '../../engine/models/manifest.ts';
import { leonardoScheduler } from './schedulers.ts';
import type { VariationGeneric } from './variation-schemas.ts';

/** The Leonardo SDK's default modelId. */
export const LEONARDO_DEFAULT_MODEL_ID = 'b24e16ff-06e3-43eb-8d33-4416c2d75876';

export const SD_VERSIONS = ['v1_5', 'v2', 'v3', 'SDXL_0_8', 'SDXL_0_9', 'SDXL_1_0', 'SDXL_LIGHTNING', 'PHOENIX', 'FLUX', 'FLUX_DEV', 'KINO_2_0'] as const;
export type SdVersion = (typeof SD_VERSIONS)[number];

/** What the Leonardo dialect keeps with a generation (StoredSettings.extra): the request as sent. */
export interface LeonardoExtra {
  prompt?: string;
  negativePrompt?: string | null;
  modelId?: string;
  sdVersion?: SdVersion;
  scheduler?: string;
  presetStyle?: string | null;
  seed?: number;
  initStrength?: number | null;
  initImageId?: string | null;
  initGenerationImageId?: string | null;
  canvasRequestType?: string;
  canvasInitId?: string;
  canvasMaskId?: string | null;
  photoReal?: boolean | null;
  photoRealStrength?: number | null;
  promptMagic?: boolean | null;
  promptMagicStrength?: number | null;
  promptMagicVersion?: string | null;
  ultra?: boolean | null;
  /** Origin the client used, for the image URLs of webhooks. */
  baseUrl?: string;
}

export function sdVersionOf(family: ModelFamily | string): SdVersion {
  switch (family) {
    case 'sd2':
      return 'v2';
    case 'sdxl':
      return 'SDXL_1_0';
    case 'turbo':
      return 'SDXL_LIGHTNING';
    default:
      return 'v1_5';
  }
}

export function jobStatus(status: Generation['status']): 'PENDING' | 'COMPLETE' | 'FAILED' {
  return status === 'succeeded' ? 'COMPLETE' : status === 'failed' ? 'FAILED' : 'PENDING';
}

export function extraOf(settings: StoredSettings): LeonardoExtra {
  return settings.dialect === 'leonardo' ? ((settings.extra ?? {}) as LeonardoExtra) : {};
}

/** generations_by_pk (and the items of generations[]). `family`: the model's, when known; `variations`: by output id. */
export function generationObject(
  gen: Generation,
  outputs: GenerationOutput[],
  settings: StoredSettings,
  url: (objectKey: string) => string,
  family?: ModelFamily,
  variations: Readonly<Record<string, VariationGeneric[]>> = {},
): Record<string, unknown> {
  const x = extraOf(settings);
  const scheduler = x.scheduler ?? leonardoScheduler(gen.scheduler);
  return {
    id: gen.id,
    status: jobStatus(gen.status),
    createdAt: gen.created_at,
    prompt: x.prompt ?? gen.prompt,
    negativePrompt: x.negativePrompt ?? (gen.negative_prompt || null),
    modelId: x.modelId ?? modelUuid(gen.model),
    sdVersion: x.sdVersion ?? sdVersionOf(family ?? 'sd1'),
    ...(scheduler ? { scheduler } : {}),
    presetStyle: x.presetStyle ?? null,
    seed: x.seed ?? Number(gen.seed),
    imageWidth: gen.width,
    imageHeight: gen.height,
    inferenceSteps: gen.steps,
    guidanceScale: gen.guidance,
    initStrength: x.initStrength ?? null,
    public: settings.isPublic,
    photoReal: x.photoReal ?? false,
    photoRealStrength: x.photoRealStrength ?? null,
    promptMagic: x.promptMagic ?? false,
    promptMagicStrength: x.promptMagicStrength ?? null,
    promptMagicVersion: x.promptMagicVersion ?? null,
    ultra: x.ultra ?? null,
    generated_images: outputs.map((o) => ({
      id: o.id,
      url: url(o.image_key),
      nsfw: o.nsfw === 1,
      likeCount: 0,
      fantasyAvatar: null,
      imageToVideo: null,
      motion: null,
      motionModel: null,
      motionMP4URL: null,
      motionStrength: null,
      generated_image_variation_generics: variations[o.id] ?? [],
    })),
    // The LoRAs it applied, as Leonardo lists elements (baseModel and the rest are the listing's: GET /elements).
    generation_elements: (settings.request.loras ?? []).map((l, k) => ({
      id: k + 1,
      weightApplied: l.weight,
      lora: { akUUID: loraUuid(l.name), name: l.name, description: null, baseModel: null, urlImage: null, weightDefault: 1, weightMin: -MAX_LORA_WEIGHT, weightMax: MAX_LORA_WEIGHT },
    })),
  };
}
