/**
 * Defaults for a plain export without darkroom.json, read the way diffusers reads the folder: the
 * pipeline class in model_index.json gives the family, scheduler_config.json's `_class_name` the
 * sampler (schedulers it names Darkroom lacks fall back to Euler ancestral, with a note).
 */
import { basename } from 'node:path';
import { SCHEDULER_NAMES, type SchedulerName } from '../schedulers/index.ts';
import type { SchedulerConfig } from '../schedulers/types.ts';
import type { ModelFamily, ModelManifest } from './manifest.ts';
import { schedulerForConfig } from './scheduler-class.ts';

export interface InferInput {
  dir: string;
  modelIndex: Record<string, unknown>;
  schedulerConfig: SchedulerConfig;
  hasSecondEncoder: boolean;
  /** text_encoder_2 without text_encoder: the SDXL refiner's layout. */
  refiner?: boolean;
  inpainting?: boolean;
}

export const DEFAULT_SCHEDULER: SchedulerName = 'euler_a';
const DISTILLED_SCHEDULERS: SchedulerName[] = ['euler_a', 'lcm', 'euler'];

/** optimum's ORT/Onnx prefixes name the same diffusers pipelines. */
export function pipelineClass(modelIndex: Record<string, unknown>): string {
  return String(modelIndex['_class_name'] ?? '').replace(/^(ORT|Onnx)/, '');
}

/** Turbo models ship trailing-spacing Euler (ancestral) configs; SD 1.x/2.x/XL base models use leading or linspace. */
function isTurbo({ dir, schedulerConfig }: InferInput): boolean {
  const cls = String(schedulerConfig['_class_name'] ?? '');
  const euler = cls === 'EulerAncestralDiscreteScheduler' || cls === 'EulerDiscreteScheduler';
  return (euler && schedulerConfig.timestep_spacing === 'trailing') || /turbo/i.test(basename(dir));
}

export function inferFamily(input: InferInput): ModelFamily {
  const { schedulerConfig, hasSecondEncoder } = input;
  const pipeline = pipelineClass(input.modelIndex);
  if (pipeline === 'LatentConsistencyModelPipeline' || schedulerConfig['_class_name'] === 'LCMScheduler') return 'lcm';
  if (isTurbo(input)) return 'turbo';
  if (hasSecondEncoder || pipeline.startsWith('StableDiffusionXL')) return 'sdxl';
  if (schedulerConfig.prediction_type === 'v_prediction') return 'sd2';
  return 'sd1';
}

export function inferManifest(input: InferInput, note: (message: string) => void = () => undefined): ModelManifest {
  const family = inferFamily(input);
  const id = basename(input.dir);
  const distilled = family === 'turbo' || family === 'lcm';
  const xl = input.hasSecondEncoder || input.refiner;
  const side = xl && family !== 'turbo' ? 1024 : family === 'sd2' ? 768 : 512;
  const offered = distilled ? DISTILLED_SCHEDULERS : SCHEDULER_NAMES.filter((s) => s !== 'lcm');
  const choice = schedulerForConfig(input.schedulerConfig);
  const fallback = family === 'lcm' ? 'lcm' : DEFAULT_SCHEDULER;
  if (!choice.scheduler) note(`model ${id}: ${choice.note}; its default scheduler is ${fallback}`);
  const scheduler = choice.scheduler ?? fallback;
  return {
    id,
    name: id,
    family,
    defaults: {
      width: side,
      height: side,
      // diffusers' turbo examples: 1 step, no guidance; LCM: 4 steps; SDXL's pipeline guides at 5.
      steps: family === 'turbo' ? 1 : family === 'lcm' ? 4 : 25,
      guidance: family === 'turbo' ? 0 : family === 'lcm' ? 1 : xl ? 5 : 7,
      scheduler,
    },
    schedulers: offered.includes(scheduler) ? offered : [scheduler, ...offered],
    minSize: 64,
    maxSize: xl ? 2048 : 1024,
    maxSteps: distilled ? 8 : undefined,
    // Circular padding is a graph rewrite (tiling.ts) that fits any convolutional UNet.
    tiling: true,
    ...(input.refiner ? { needsInitImage: true } : {}),
    ...(input.inpainting ? { inpainting: true } : {}),
  };
}
