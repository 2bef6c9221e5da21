/** The request every bench times: one prompt, the run's size, steps, guidance and scheduler, seed 1. */
import type { SchedulerName } from '../../src/engine/schedulers/index.ts';
import type { GenerationRequest } from '../../src/engine/pipelines/request.ts';

export interface BenchRequestOptions {
  size: number;
  steps: number;
  guidance: number;
  scheduler: SchedulerName;
}

export function benchRequest(o: BenchRequestOptions, images: number): GenerationRequest {
  return {
    prompt: 'a photograph of a red circle on a blue background',
    negativePrompt: '',
    width: o.size,
    height: o.size,
    steps: o.steps,
    guidance: o.guidance,
    scheduler: o.scheduler,
    seed: 1,
    numOutputs: images,
  };
}
