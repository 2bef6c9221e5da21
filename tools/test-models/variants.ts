/**
 * The test-model variants: each one mirrors a real export's conventions (the ones DESIGN.md says the
 * engine must read from the files, never assume), with tiny random networks.
 */
import type { ModelFamily, ModelManifest } from '../../src/engine/models/manifest.ts';
import type { UnetSpec } from './unet.ts';
import { EOS } from './tokenizer.ts';

export const TEST_MODEL_VARIANTS = [
  'tiny-sd1',
  'tiny-sd1-fp16',
  'tiny-sd1-inpaint',
  'tiny-sd2-v',
  'tiny-sdxl',
  'tiny-lcm',
  'tiny-turbo',
  'tiny-sd1-controlnet',
] as const;
export type TestModelVariant = (typeof TEST_MODEL_VARIANTS)[number];

export function isTestModelVariant(s: string): s is TestModelVariant {
  return (TEST_MODEL_VARIANTS as readonly string[]).includes(s);
}

export const TEXT_DIM = 32;
export const TEXT_2_DIM = 48;
export const TEXT_LAYERS = 2;
export const TIME_COND_DIM = 32;

export interface VariantSpec {
  id: TestModelVariant;
  name: string;
  family: ModelFamily;
  fp16: boolean;
  idsType: 'int32' | 'int64';
  padToken: string;
  unetInChannels: 4 | 9;
  timestep: UnetSpec['timestep'];
  vaeEncoderOutput: 'latent_sample' | 'latent_parameters';
  scalingFactor: number;
  /** UNet initializers in unet/model.onnx_data (ONNX external data), as exports over 2 GB do. */
  externalUnet: boolean;
  sdxl: boolean;
  lcm: boolean;
  /** A ControlNet-ready UNet (residual inputs) and controlnet/canny/model.onnx beside it. */
  controlNet?: boolean;
  pipelineClass: string;
  scheduler: Record<string, unknown> & { _class_name: string };
  manifest: Pick<ModelManifest, 'defaults' | 'schedulers' | 'maxSteps' | 'tiling' | 'description'>;
}

const SD_SCHEDULERS: ModelManifest['schedulers'] = [
  'ddim', 'ddpm', 'pndm', 'euler', 'euler_a', 'lms', 'heun', 'dpmpp_2m', 'dpmpp_2m_karras', 'dpmpp_2m_sde', 'unipc',
];
const FEW_STEP_SCHEDULERS: ModelManifest['schedulers'] = ['euler_a', 'lcm', 'euler'];

const BETAS = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000 } as const;

/** runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json. */
const SD15_SCHEDULER = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.30.0',
  ...BETAS,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  clip_sample: false,
  trained_betas: null,
};

/** stabilityai/stable-diffusion-2-1 (768, v-prediction): DDIM is its default scheduler. */
const SD21_SCHEDULER = {
  _class_name: 'DDIMScheduler',
  _diffusers_version: '0.30.0',
  ...BETAS,
  clip_sample: false,
  prediction_type: 'v_prediction',
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
};

/** stabilityai/stable-diffusion-xl-base-1.0. */
const SDXL_SCHEDULER = {
  _class_name: 'EulerDiscreteScheduler',
  _diffusers_version: '0.30.0',
  ...BETAS,
  clip_sample: false,
  interpolation_type: 'linear',
  prediction_type: 'epsilon',
  sample_max_value: 1.0,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  timestep_spacing: 'leading',
  trained_betas: null,
  use_karras_sigmas: false,
};

/** SimianLuo/LCM_Dreamshaper_v7. */
const LCM_SCHEDULER = {
  _class_name: 'LCMScheduler',
  _diffusers_version: '0.30.0',
  ...BETAS,
  clip_sample: false,
  clip_sample_range: 1.0,
  original_inference_steps: 50,
  prediction_type: 'epsilon',
  rescale_betas_zero_snr: false,
  set_alpha_to_one: true,
  steps_offset: 1,
  thresholding: false,
  timestep_scaling: 10.0,
  timestep_spacing: 'leading',
  trained_betas: null,
};

/** A turbo-style few-step model: Euler ancestral over trailing timesteps. */
const TURBO_SCHEDULER = {
  _class_name: 'EulerAncestralDiscreteScheduler',
  _diffusers_version: '0.30.0',
  ...BETAS,
  prediction_type: 'epsilon',
  steps_offset: 1,
  timestep_spacing: 'trailing',
  trained_betas: null,
};

const SD1: Omit<VariantSpec, 'id' | 'name'> = {
  family: 'sd1',
  fp16: false,
  idsType: 'int32',
  padToken: EOS,
  unetInChannels: 4,
  timestep: { type: 'int64', dims: [1] },
  vaeEncoderOutput: 'latent_sample',
  scalingFactor: 0.18215,
  externalUnet: false,
  sdxl: false,
  lcm: false,
  pipelineClass: 'OnnxStableDiffusionPipeline',
  scheduler: SD15_SCHEDULER,
  manifest: {
    defaults: { width: 64, height: 64, steps: 10, guidance: 7.5, scheduler: 'pndm' },
    schedulers: SD_SCHEDULERS,
    tiling: true,
  },
};

const NEWER = { timestep: { type: 'float32', dims: ['batch'] }, vaeEncoderOutput: 'latent_parameters' } as const;

export const VARIANTS: Record<TestModelVariant, VariantSpec> = {
  'tiny-sd1': { ...SD1, id: 'tiny-sd1', name: 'Tiny SD 1.x (test)' },
  'tiny-sd1-fp16': { ...SD1, id: 'tiny-sd1-fp16', name: 'Tiny SD 1.x fp16 (test)', fp16: true },
  'tiny-sd1-inpaint': {
    ...SD1,
    id: 'tiny-sd1-inpaint',
    name: 'Tiny SD 1.x inpainting (test)',
    unetInChannels: 9,
    pipelineClass: 'OnnxStableDiffusionInpaintPipeline',
    manifest: { ...SD1.manifest, tiling: undefined },
  },
  'tiny-sd2-v': {
    ...SD1,
    ...NEWER,
    id: 'tiny-sd2-v',
    name: 'Tiny SD 2.x v-prediction (test)',
    family: 'sd2',
    idsType: 'int64',
    padToken: '!',
    externalUnet: true,
    scheduler: SD21_SCHEDULER,
    manifest: { ...SD1.manifest, defaults: { ...SD1.manifest.defaults, scheduler: 'ddim' } },
  },
  'tiny-sdxl': {
    ...SD1,
    ...NEWER,
    id: 'tiny-sdxl',
    name: 'Tiny SDXL (test)',
    family: 'sdxl',
    scalingFactor: 0.13025,
    sdxl: true,
    pipelineClass: 'ORTStableDiffusionXLPipeline',
    scheduler: SDXL_SCHEDULER,
    manifest: { ...SD1.manifest, defaults: { width: 64, height: 64, steps: 10, guidance: 5, scheduler: 'euler' } },
  },
  'tiny-lcm': {
    ...SD1,
    ...NEWER,
    id: 'tiny-lcm',
    name: 'Tiny LCM (test)',
    family: 'lcm',
    lcm: true,
    pipelineClass: 'ORTLatentConsistencyModelPipeline',
    scheduler: LCM_SCHEDULER,
    manifest: {
      defaults: { width: 64, height: 64, steps: 4, guidance: 1, scheduler: 'lcm' },
      schedulers: FEW_STEP_SCHEDULERS,
      maxSteps: 8,
      description: 'The guidance scale goes in through the UNet input timestep_cond (w-embedding), not classifier-free guidance.',
    },
  },
  // tiny-sd1's weights (the streams are named the same), so with zero residuals it draws tiny-sd1's pictures.
  'tiny-sd1-controlnet': { ...SD1, id: 'tiny-sd1-controlnet', name: 'Tiny SD 1.x with a ControlNet (test)', controlNet: true },
  'tiny-turbo': {
    ...SD1,
    ...NEWER,
    id: 'tiny-turbo',
    name: 'Tiny Turbo (test)',
    family: 'turbo',
    scheduler: TURBO_SCHEDULER,
    manifest: {
      defaults: { width: 64, height: 64, steps: 1, guidance: 0, scheduler: 'euler_a' },
      schedulers: FEW_STEP_SCHEDULERS,
      maxSteps: 4,
    },
  },
};

/** Darkroom's darkroom.json for a variant. */
export function manifestFor(spec: VariantSpec): ModelManifest {
  const m: ModelManifest = {
    id: spec.id,
    name: spec.name,
    family: spec.family,
    description: spec.manifest.description ?? 'Tiny random-weight model for tests. Draws noise, not pictures.',
    license: 'test only',
    defaults: { ...spec.manifest.defaults },
    schedulers: [...spec.manifest.schedulers],
    minSize: 32,
    maxSize: 256,
  };
  if (spec.manifest.maxSteps !== undefined) m.maxSteps = spec.manifest.maxSteps;
  if (spec.manifest.tiling !== undefined) m.tiling = spec.manifest.tiling;
  return m;
}
