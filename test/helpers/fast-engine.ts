/**
 * A stand-in engine for tests about the API rather than the images: every request is answered at
 * once with flat grey images of the size asked for (the worker encodes and stores them as usual).
 */
import type { ServerOptions } from '../../src/server/server.ts';
import type { GenerationRequest } from '../../src/engine/pipelines/request.ts';

export const fastEngine: NonNullable<ServerOptions['engine']> = {
  generate: async (_model, input) => {
    const request: GenerationRequest = {
      scheduler: 'euler',
      width: 256,
      height: 256,
      steps: 10,
      guidance: 7,
      seed: 1,
      numOutputs: 1,
      ...input,
    } as GenerationRequest;
    const images = Array.from({ length: request.numOutputs }, (_, k) => ({
      seed: (request.seed + k) % 2 ** 32,
      width: request.width,
      height: request.height,
      pixels: new Float32Array(3 * request.width * request.height),
    }));
    return { request, images };
  },
};
