/**
 * What things cost, in credits: the one place to change pricing. Each API dialect names the tariff
 * its peer charges by and reports the amount in its own fields:
 *  - per_image (Stablecog, Leonardo, OpenAI): one credit per requested image, whatever the model,
 *    size or steps (Stablecog's rule);
 *  - stable_image_core: 6 credits per successful image (seed 002's `/api/generate/core`);
 *  - stability_core: 3 credits per successful image (Stability's own v2beta Stable Image Core);
 *  - unzoom: 1 credit per successful image (Leonardo's unzoom variation: one inpainting pass);
 *  - universal_upscaler: 2 credits per successful image (Leonardo's universal upscaler: an upscale
 *    and an image-to-image pass at the larger size).
 * Credits are taken when a request is accepted; every image that fails is refunded, so a flat-priced
 * result is charged only on success. One credit per upscale.
 */
export type Tariff = 'per_image' | 'stable_image_core' | 'stability_core' | 'unzoom' | 'universal_upscaler';

/** Flat prices per successful image. */
export const FLAT_PRICES: Readonly<Record<Exclude<Tariff, 'per_image'>, number>> = Object.freeze({
  stable_image_core: 6,
  stability_core: 3,
  unzoom: 1,
  universal_upscaler: 2,
});

export interface GenerationPriceInput {
  numOutputs: number;
  width: number;
  height: number;
  steps: number;
  model: string;
  tariff?: Tariff;
}

export function generationCost(input: GenerationPriceInput): number {
  const tariff = input.tariff ?? 'per_image';
  if (tariff === 'per_image') return input.numOutputs;
  return FLAT_PRICES[tariff] * input.numOutputs;
}

/** Credits returned when `failed` of the requested outputs could not be made. */
export function generationRefund(input: GenerationPriceInput, failed: number): number {
  if (failed <= 0) return 0;
  return Math.min(generationCost(input), Math.ceil((generationCost(input) * failed) / input.numOutputs));
}

export function upscaleCost(): number {
  return 1;
}
