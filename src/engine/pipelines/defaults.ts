/** Fills what a caller left out from the model's manifest defaults. */
import type { ModelManifest } from '../models/manifest.ts';
import { randomSeed } from '../random.ts';
import type { GenerationRequest } from './request.ts';

export type GenerationInput = Partial<GenerationRequest> & Pick<GenerationRequest, 'prompt'>;

export function withDefaults(manifest: ModelManifest, input: GenerationInput): GenerationRequest {
  const d = manifest.defaults;
  return {
    ...input,
    negativePrompt: input.negativePrompt ?? '',
    width: input.width ?? d.width,
    height: input.height ?? d.height,
    steps: input.steps ?? d.steps,
    guidance: input.guidance ?? d.guidance,
    scheduler: input.scheduler ?? d.scheduler,
    seed: input.seed ?? randomSeed(),
    numOutputs: input.numOutputs ?? 1,
  };
}
