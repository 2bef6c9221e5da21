/**
 * The engine's errors. The API layers map these onto each dialect's error envelope, so every
 * message names the field or file at fault in words a user can act on.
 */

/** A request the engine cannot run as asked (bad size, strength, scheduler...). Costs the user nothing. */
export class EngineInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'EngineInputError';
  }
}

/** A scheduler the engine has but the model's manifest does not offer. */
export class SchedulerNotOfferedError extends EngineInputError {
  constructor(
    readonly modelId: string,
    readonly scheduler: string,
    readonly offered: readonly string[],
  ) {
    super('scheduler', `model ${modelId} does not offer scheduler "${scheduler}" (it offers ${offered.join(', ')})`);
    this.name = 'SchedulerNotOfferedError';
  }
}

/** A model folder that is incomplete or malformed. */
export class ModelFormatError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'ModelFormatError';
  }
}

export class ModelNotFoundError extends Error {
  constructor(readonly model: string, available: readonly string[]) {
    super(`model "${model}" not found` + (available.length ? ` (available: ${available.join(', ')})` : ' (no models installed)'));
    this.name = 'ModelNotFoundError';
  }
}

/** Thrown between denoising steps when the caller's AbortSignal fired. */
export class GenerationCancelledError extends Error {
  constructor() {
    super('generation cancelled');
    this.name = 'GenerationCancelledError';
  }
}

/**
 * A model component produced NaN or infinity: what a float16 overflow or underflow looks like. The
 * engine answers it by loading that component in float32 when it ran a float16 twin (engine.ts).
 */
export class NonFiniteOutputError extends Error {
  constructor(
    /** The component, as in ModelComponents: 'unet', 'vaeDecoder', 'textEncoder'... */
    readonly component: string,
    /** The ONNX file that produced it. */
    readonly path: string,
  ) {
    super(`${component} (${path}) produced values that are not finite numbers`);
    this.name = 'NonFiniteOutputError';
  }
}
