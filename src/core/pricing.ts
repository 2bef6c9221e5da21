/**
 * What things cost, in credits: the one place to change pricing. Stablecog's rule: one credit per
 * requested image, whatever the model, size or steps; one credit per upscale.
 */
export interface GenerationPriceInput {
  numOutputs: number;
  width: number;
  height: number;
  steps: number;
  model: string;
}

export function generationCost(input: GenerationPriceInput): number {
  return input.numOutputs;
}

/** Credits returned when `failed` of the requested outputs could not be made. */
export function generationRefund(input: GenerationPriceInput, failed: number): number {
  if (failed <= 0) return 0;
  return Math.min(generationCost(input), Math.ceil((generationCost(input) * failed) / input.numOutputs));
}

export function upscaleCost(): number {
  return 1;
}
