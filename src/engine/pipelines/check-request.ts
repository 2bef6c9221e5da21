/**
 * Every rule a request must meet before any model work starts, each failure naming its field
 * (diffusers' check_inputs, in spirit: raise a clear error rather than silently correct).
 */
import { EngineInputError } from '../errors.ts';
import type { LoadedModel } from '../models/loaded-model.ts';
import { assertSeed } from '../random.ts';
import { SCHEDULER_NAMES, isSchedulerName } from '../schedulers/index.ts';
import type { GenerationRequest } from './request.ts';

export const MAX_OUTPUTS = 8;
export const MAX_STEPS = 150;
export const MAX_GUIDANCE = 30;

function checkSize(field: 'width' | 'height', value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value % 8 !== 0) throw new EngineInputError(field, `${field} must be a multiple of 8, got ${value}`);
  if (value < min || value > max) throw new EngineInputError(field, `${field} must be between ${min} and ${max} for this model, got ${value}`);
}

export function checkRequest(model: LoadedModel, req: GenerationRequest): void {
  const m = model.info.manifest;
  if (typeof req.prompt !== 'string') throw new EngineInputError('prompt', 'prompt must be a string');
  checkSize('width', req.width, m.minSize, m.maxSize);
  checkSize('height', req.height, m.minSize, m.maxSize);
  const maxSteps = m.maxSteps ?? MAX_STEPS;
  if (!Number.isInteger(req.steps) || req.steps < 1 || req.steps > maxSteps) {
    throw new EngineInputError('steps', `steps must be an integer from 1 to ${maxSteps}, got ${req.steps}`);
  }
  if (!Number.isFinite(req.guidance) || req.guidance < 0 || req.guidance > MAX_GUIDANCE) {
    throw new EngineInputError('guidance', `guidance must be between 0 and ${MAX_GUIDANCE}, got ${req.guidance}`);
  }
  if (!isSchedulerName(req.scheduler)) {
    throw new EngineInputError('scheduler', `unknown scheduler "${req.scheduler}" (known: ${SCHEDULER_NAMES.join(', ')})`);
  }
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
  if (req.mask && !req.initImage) throw new EngineInputError('mask', 'a mask needs an init image to paint into');
  if ((req.initImage || req.mask) && !model.info.components.vaeEncoder) {
    throw new EngineInputError('initImage', `model ${m.id} has no VAE encoder, so it cannot take an init image`);
  }
  if (req.tiling && !m.tiling) throw new EngineInputError('tiling', `model ${m.id} does not support tiling`);
}
