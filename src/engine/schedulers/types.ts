/**
 * The contract every scheduler file implements. Semantics follow Hugging Face diffusers'
 * schedulers (same names, same math), so a `scheduler_config.json` written for diffusers
 * configures ours the same way.
 *
 * Samples are flat Float32Arrays holding a whole latent batch ([batch, channels, height, width]);
 * scheduler math is element-wise, so the batch layout does not matter to it, except thresholding's, which works
 * per image and is told an image's size (SchedulerOptions.valuesPerImage).
 */

import type { StepTable } from './step-table.ts';

export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';
export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';

/**
 * The keys of diffusers' `scheduler_config.json` that our schedulers read (snake_case, as on disk).
 * A key absent from the file takes the *target scheduler's own* default, exactly as diffusers'
 * `from_config` does (e.g. a PNDM config without `timestep_spacing` gives Euler "linspace" but DDIM "leading").
 */
export interface SchedulerConfig {
  num_train_timesteps?: number;
  beta_start?: number;
  beta_end?: number;
  beta_schedule?: BetaSchedule;
  trained_betas?: number[] | null;
  prediction_type?: PredictionType;
  timestep_spacing?: TimestepSpacing;
  steps_offset?: number;
  clip_sample?: boolean;
  clip_sample_range?: number;
  set_alpha_to_one?: boolean;
  skip_prk_steps?: boolean;
  use_karras_sigmas?: boolean;
  rescale_betas_zero_snr?: boolean;
  /** LCM: how many of the 1000 training steps the distilled model was trained on. */
  original_inference_steps?: number;
  [key: string]: unknown;
}

/**
 * Fresh standard-normal noise shaped like the sample being stepped. The pipeline builds it from one
 * seeded stream per image, so image k of a batch sees exactly the noise a single run with seed+k sees.
 */
export type NoiseFn = () => Float32Array;

export interface CustomTimesteps {
  timesteps: readonly number[];
}

/** What a run gives a scheduler besides the model's config. */
export interface SchedulerOptions {
  /** DDIM's eta, which diffusers passes to `step` (0 = deterministic DDIM, 1 = DDPM-like). */
  eta?: number;
  /**
   * Values of one image in the flat sample (channels * height * width of a latent): the config's `thresholding`
   * works per image, and a scheduler with it refuses to step without this.
   */
  valuesPerImage?: number;
}

export interface Scheduler {
  /** Model evaluations per "logical" step (2 for Heun); the pipeline uses it for progress counts. */
  readonly order: number;
  /** Standard deviation of the initial noise (1 for DDPM-style, sigma_max-ish for Karras-style). */
  readonly initNoiseSigma: number;
  /** The timesteps the denoising loop walks over, in order (after setTimesteps). May be fractional. */
  readonly timesteps: readonly number[];
  /**
   * n steps spaced by the config's timestep_spacing, or `{ timesteps }`: the exact descending training timesteps
   * to visit (diffusers' custom timesteps; only the classes that take them in diffusers do, the others refuse).
   */
  setTimesteps(steps: number | CustomTimesteps): void;
  /** For image-to-image: the loop starts at timesteps[index] instead of timesteps[0]. */
  setBeginIndex(index: number): void;
  /** Scales the denoising model input (identity for DDPM-style schedulers). Returns a new array. */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array;
  /**
   * One reverse-diffusion step: from the model's output at `timestep` and the current sample x_t,
   * returns the previous sample. Stochastic schedulers draw from `noise`; they throw without it.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, noise?: NoiseFn): Float32Array;
  /** Forward diffusion for image-to-image: noises a clean sample to the level of `timestep`. */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array;
  /**
   * The run from timesteps[begin] on as per-step coefficients (step-table.ts), after setTimesteps: what `step`
   * does from there, as a fresh run. Null where this configuration's step is not linear (thresholding); absent
   * on the schedulers that only have their JS step.
   */
  stepTable?(begin: number): StepTable | null;
}

/** The training noise schedule a scheduler is built on (diffusers' beta settings). */
export interface TrainingScheduleOptions {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  trainedBetas: readonly number[] | null;
  /** Rescale to zero terminal SNR (Lin et al. 2023, https://arxiv.org/abs/2305.08891, Algorithm 1). */
  rescaleZeroSnr: boolean;
}
