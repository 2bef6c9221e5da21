/**
 * Every rule a request must meet before any model work starts, each failure naming its field
 * (diffusers' check_inputs, in spirit: raise a clear error rather than silently correct).
 *
 * The rules need only a model's manifest and whether it has a VAE encoder, so they are pure: the API
 * side runs the same function over a listed model before it charges anything (core/generations.ts),
 * and the engine runs it again on the loaded model, guarding itself.
 */
import { CONTROL_PREPROCESSORS, isControlPreprocessor } from '../controlnet/control-image.ts';
import { EngineInputError, SchedulerNotOfferedError } from '../errors.ts';
import type { LoadedModel } from '../models/loaded-model.ts';
import type { ModelManifest } from '../models/manifest.ts';
import { NOISE_KINDS, assertSeed, isNoiseKind } from '../random.ts';
import { DEFAULT_PROMPT_SYNTAX, PROMPT_SYNTAXES, isPromptSyntax, parsePrompt } from '../prompts/weighting.ts';
import { SCHEDULER_NAMES, isSchedulerName } from '../schedulers/index.ts';
import type { GenerationRequest } from './request.ts';

export const MAX_OUTPUTS = 8;
export const MAX_STEPS = 150;
export const MAX_GUIDANCE = 30;

/** What the rules need to know of a model. */
export interface ModelTraits {
  manifest: ModelManifest;
  /** Whether it has a VAE encoder, so it can start from an init image (or paint into one). */
  imageToImage: boolean;
  /** Names of the ControlNets in its folder (controlnet/<name>/); absent: none. */
  controlNets?: readonly string[];
}

/** A request as the rules see it: the images only as present or absent (their bytes are checked when decoded). */
export type CheckedRequest = Omit<GenerationRequest, 'initImage' | 'mask' | 'controlnets'> & {
  initImage?: unknown;
  mask?: unknown;
  controlnets?: (Omit<NonNullable<GenerationRequest['controlnets']>[number], 'image'> & { image?: unknown })[];
};

function checkSize(field: 'width' | 'height', value: number, m: ModelManifest): void {
  if (!Number.isInteger(value) || value % 8 !== 0) {
    throw new EngineInputError(field, `${field} must be a multiple of 8 from ${m.minSize} to ${m.maxSize} for model ${m.id}, got ${value}`);
  }
  if (value < m.minSize || value > m.maxSize) {
    throw new EngineInputError(field, `${field} must be between ${m.minSize} and ${m.maxSize} for model ${m.id}, got ${value}`);
  }
}

/**
 * The rules a served request meets (the API before it charges, `darkroom generate` before it loads):
 * the engine's own, and a scheduler the model is offered with. The engine itself runs any scheduler it
 * has, so benchmarks and tests can step a model with any of them.
 */
export function checkServedRequest(model: ModelTraits, req: CheckedRequest): void {
  checkRequestFor(model, req);
  const m = model.manifest;
  if (!m.schedulers.includes(req.scheduler)) throw new SchedulerNotOfferedError(m.id, req.scheduler, m.schedulers);
}

/** Throws EngineInputError naming the first field at fault. */
export function checkRequestFor(model: ModelTraits, req: CheckedRequest): void {
  const m = model.manifest;
  if (typeof req.prompt !== 'string') throw new EngineInputError('prompt', 'prompt must be a string');
  checkSize('width', req.width, m);
  checkSize('height', req.height, m);
  const maxSteps = m.maxSteps ?? MAX_STEPS;
  if (!Number.isInteger(req.steps) || req.steps < 1 || req.steps > maxSteps) {
    throw new EngineInputError(
      'steps',
      m.maxSteps !== undefined && req.steps > m.maxSteps
        ? `model ${m.id} takes at most ${m.maxSteps} steps, got ${req.steps}`
        : `steps must be an integer from 1 to ${maxSteps}, got ${req.steps}`,
    );
  }
  if (!Number.isFinite(req.guidance) || req.guidance < 0 || req.guidance > MAX_GUIDANCE) {
    throw new EngineInputError('guidance', `guidance must be between 0 and ${MAX_GUIDANCE}, got ${req.guidance}`);
  }
  if (!isSchedulerName(req.scheduler)) {
    throw new EngineInputError('scheduler', `unknown scheduler "${req.scheduler}" (known: ${SCHEDULER_NAMES.join(', ')})`);
  }
  if (req.eta !== undefined) checkEta(req.eta, req.scheduler);
  try {
    assertSeed(req.seed);
  } catch (err) {
    throw new EngineInputError('seed', (err as Error).message);
  }
  if (!Number.isInteger(req.numOutputs) || req.numOutputs < 1 || req.numOutputs > MAX_OUTPUTS) {
    throw new EngineInputError('numOutputs', `numOutputs must be an integer from 1 to ${MAX_OUTPUTS}, got ${req.numOutputs}`);
  }
  if (req.strength !== undefined && (!Number.isFinite(req.strength) || req.strength < 0 || req.strength > 1)) {
    throw new EngineInputError('strength', `strength must be between 0 and 1, got ${req.strength}`);
  }
  if (req.initImage !== undefined && !model.imageToImage) {
    throw new EngineInputError('initImage', `model ${m.id} has no VAE encoder, so it cannot start from an init image`);
  }
  if (m.needsInitImage && req.initImage === undefined) {
    throw new EngineInputError('initImage', `model ${m.id} is an SDXL refiner: it redraws an init image (image-to-image or inpainting), it cannot draw from text alone`);
  }
  if (req.mask !== undefined && req.initImage === undefined) throw new EngineInputError('mask', 'a mask needs an init image to paint into');
  if (req.tiling && !m.tiling) throw new EngineInputError('tiling', `model ${m.id} does not support seamless tiling`);
  if (req.noise !== undefined && !isNoiseKind(req.noise)) {
    throw new EngineInputError('noise', `unknown noise "${String(req.noise)}" (known: ${NOISE_KINDS.join(', ')})`);
  }
  checkPromptSyntax(req);
  if (req.hires !== undefined) checkHires(model, req);
  if (req.controlnets !== undefined) checkControlNets(model, req);
}

/** DDIM's eta runs from deterministic DDIM (0) to DDPM's variance (1), as A1111's slider does. */
function checkEta(eta: number, scheduler: string): void {
  if (typeof eta !== 'number' || !Number.isFinite(eta) || eta < 0 || eta > 1) {
    throw new EngineInputError('eta', `eta must be between 0 and 1, got ${String(eta)}`);
  }
  if (eta !== 0 && scheduler !== 'ddim') {
    throw new EngineInputError('eta', `eta is the ddim scheduler's option; scheduler "${scheduler}" does not take it (send eta 0 or leave it out)`);
  }
}

export const MAX_CONTROLNETS = 3;
/** A1111's ControlNet weight slider goes to 2. */
export const MAX_CONTROLNET_WEIGHT = 2;

function checkControlNets(model: ModelTraits, req: CheckedRequest): void {
  const list = req.controlnets!;
  if (!Array.isArray(list) || list.length > MAX_CONTROLNETS) throw new EngineInputError('controlnets', `controlnets must be a list of at most ${MAX_CONTROLNETS}`);
  if (list.length && req.mask !== undefined) throw new EngineInputError('controlnets', 'ControlNets apply to text-to-image and image-to-image, not to inpainting');
  if (list.length && req.hires !== undefined) throw new EngineInputError('controlnets', 'ControlNets cannot be combined with hires');
  const installed = model.controlNets ?? [];
  list.forEach((c, i) => {
    const at = `controlnets[${i}]`;
    if (typeof c?.name !== 'string' || !installed.includes(c.name)) {
      throw new EngineInputError(
        `${at}.name`,
        installed.length
          ? `model ${model.manifest.id} has no ControlNet ${JSON.stringify(c?.name)} (it has: ${installed.join(', ')})`
          : `model ${model.manifest.id} has no ControlNets (a model folder holds them as controlnet/<name>/model.onnx)`,
      );
    }
    if (c.image === undefined) throw new EngineInputError(`${at}.image`, `${at}.image is required`);
    if (!isControlPreprocessor(c.preprocessor)) {
      throw new EngineInputError(
        `${at}.preprocessor`,
        `preprocessor ${JSON.stringify(c.preprocessor)} is not served: it needs a model Darkroom does not have installed (served: ${CONTROL_PREPROCESSORS.join(', ')})`,
      );
    }
    if (!Number.isFinite(c.weight) || c.weight < 0 || c.weight > MAX_CONTROLNET_WEIGHT) {
      throw new EngineInputError(`${at}.weight`, `${at}.weight must be between 0 and ${MAX_CONTROLNET_WEIGHT}, got ${c.weight}`);
    }
    const start = c.start ?? 0;
    const end = c.end ?? 1;
    if (!Number.isFinite(start) || !Number.isFinite(end) || start < 0 || end > 1 || start >= end) {
      throw new EngineInputError(`${at}.start`, `${at}.start and .end must satisfy 0 <= start < end <= 1, got ${start}..${end}`);
    }
  });
}

export const MAX_HIRES_SCALE = 4;
/** What dialects ask of the hires pass when the client does not say (A1111's denoising strength is 0.7; this keeps more of the draft). */
export const DEFAULT_HIRES_STRENGTH = 0.5;

/** The size a hires pass draws at: each side `scale` times the base, down to the engine's multiple of 8. */
export function hiresSize(req: Pick<GenerationRequest, 'width' | 'height'>, scale: number): { width: number; height: number } {
  return { width: Math.floor((req.width * scale) / 8) * 8, height: Math.floor((req.height * scale) / 8) * 8 };
}

/** The model's size limits apply to the target size, which the image-to-image pass needs a VAE encoder for. */
function checkHires(model: ModelTraits, req: CheckedRequest): void {
  const { scale, strength, steps } = req.hires!;
  if (!Number.isFinite(scale) || scale <= 1 || scale > MAX_HIRES_SCALE) {
    throw new EngineInputError('hires.scale', `hires.scale must be over 1 and at most ${MAX_HIRES_SCALE}, got ${scale}`);
  }
  if (!Number.isFinite(strength) || strength <= 0 || strength > 1) throw new EngineInputError('hires.strength', `hires.strength must be over 0 and at most 1, got ${strength}`);
  const maxSteps = model.manifest.maxSteps ?? MAX_STEPS;
  if (steps !== undefined && (!Number.isInteger(steps) || steps < 1 || steps > maxSteps)) {
    throw new EngineInputError('hires.steps', `hires.steps must be an integer from 1 to ${maxSteps}, got ${steps}`);
  }
  if (req.initImage !== undefined) throw new EngineInputError('hires', 'hires applies to text-to-image only; it cannot be combined with an init image');
  if (!model.imageToImage) throw new EngineInputError('hires', `model ${model.manifest.id} has no VAE encoder, so it cannot take the hires image-to-image pass`);
  const m = model.manifest;
  const target = hiresSize(req, scale);
  for (const side of ['width', 'height'] as const) {
    if (target[side] > m.maxSize) {
      throw new EngineInputError('hires.scale', `hires.scale ${scale} makes the ${side} ${target[side]}, over ${m.maxSize}, the most model ${m.id} draws`);
    }
  }
}

/** A known syntax, and under it prompts whose weights are numbers (A1111 fails on `(red:1.2.3)`; we say so first). */
function checkPromptSyntax(req: CheckedRequest): void {
  if (req.promptSyntax !== undefined && !isPromptSyntax(req.promptSyntax)) {
    throw new EngineInputError('promptSyntax', `promptSyntax must be one of ${PROMPT_SYNTAXES.join(', ')}, got ${JSON.stringify(req.promptSyntax)}`);
  }
  const syntax = req.promptSyntax ?? DEFAULT_PROMPT_SYNTAX;
  parsePrompt(req.prompt, syntax, 'prompt');
  if (typeof req.negativePrompt === 'string') parsePrompt(req.negativePrompt, syntax, 'negativePrompt');
}

export function checkRequest(model: LoadedModel, req: GenerationRequest): void {
  checkRequestFor({ manifest: model.info.manifest, imageToImage: model.info.components.vaeEncoder !== undefined, controlNets: model.info.controlNets }, req);
}
