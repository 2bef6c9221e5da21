/**
 * Darkroom's own small manifest, `darkroom.json`, beside the Hugging Face files of a model folder.
 * It is optional: a plain export loads with defaults inferred from model_index.json and
 * scheduler_config.json (see infer.ts).
 */
import type { SchedulerName } from '../schedulers/index.ts';

export type ModelFamily = 'sd1' | 'sd2' | 'sdxl' | 'turbo' | 'lcm';

export interface ModelDefaults {
  width: number;
  height: number;
  steps: number;
  guidance: number;
  scheduler: SchedulerName;
}

export interface ModelManifest {
  id: string;
  name: string;
  family: ModelFamily;
  description?: string;
  license?: string;
  defaults: ModelDefaults;
  /** Schedulers offered for this model; the engine accepts any of them. */
  schedulers: SchedulerName[];
  /** Sizes the model can draw, in pixels (multiples of 8). */
  minSize: number;
  maxSize: number;
  /** Few-step distilled models: guidance off, 1-4 steps. */
  maxSteps?: number;
  /** Whether the pipeline may switch the model's convolutions to circular padding. */
  tiling?: boolean;
  /** An SDXL refiner: it only redraws an init image (diffusers' StableDiffusionXLImg2ImgPipeline needs one). */
  needsInitImage?: boolean;
  /** A dedicated inpainting UNet (9 input channels: latents, mask, masked-image latents). */
  inpainting?: boolean;
}

export const MANIFEST_FILE = 'darkroom.json';
