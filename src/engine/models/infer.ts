/**
 * Defaults for a plain export without darkroom.json, guessed the way a user would: from the pipeline
 * class in model_index.json and the prediction type and spacing in scheduler_config.json.
 */
import { basename } from 'node:path';
import { SCHEDULER_NAMES, type SchedulerName } from '../schedulers/index.ts';
import type { SchedulerConfig } from '../schedulers/types.ts';
import type { ModelFamily, ModelManifest } from './manifest.ts';

interface InferInput {
  dir: string;
  modelIndex: Record<string, unknown>;
  schedulerConfig: SchedulerConfig;
  hasSecondEncoder: boolean;
}

const DISTILLED_SCHEDULERS: SchedulerName[] = ['euler_a', 'lcm', 'euler'];

export function inferFamily({ modelIndex, schedulerConfig, hasSecondEncoder }: InferInput): ModelFamily {
  const schedulerClass = String(schedulerConfig['_class_name'] ?? '');
  if (schedulerClass === 'LCMScheduler') return 'lcm';
  if (hasSecondEncoder) return 'sdxl';
  if (schedulerConfig.prediction_type === 'v_prediction') return 'sd2';
  // SD-Turbo ships a trailing-spacing Euler ancestral config; SD 1.x/2.x base models use leading/linspace.
  if (schedulerClass === 'EulerAncestralDiscreteScheduler' && schedulerConfig.timestep_spacing === 'trailing') return 'turbo';
  void modelIndex;
  return 'sd1';
}

export function inferManifest(input: InferInput): ModelManifest {
  const family = inferFamily(input);
  const id = basename(input.dir);
  const distilled = family === 'turbo' || family === 'lcm';
  const side = family === 'sdxl' ? 1024 : family === 'sd2' ? 768 : 512;
  return {
    id,
    name: id,
    family,
    defaults: {
      width: side,
      height: side,
      steps: family === 'turbo' ? 1 : family === 'lcm' ? 4 : 25,
      guidance: family === 'turbo' ? 0 : family === 'lcm' ? 1 : 7,
      scheduler: family === 'turbo' ? 'euler_a' : family === 'lcm' ? 'lcm' : 'euler_a',
    },
    schedulers: distilled ? DISTILLED_SCHEDULERS : SCHEDULER_NAMES.filter((s) => s !== 'lcm'),
    minSize: 64,
    maxSize: family === 'sdxl' ? 2048 : 1024,
    maxSteps: distilled ? 8 : undefined,
    // Circular padding is a graph rewrite (tiling.ts) that fits any convolutional UNet.
    tiling: true,
  };
}
