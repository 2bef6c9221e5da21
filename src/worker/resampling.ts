/** Upscaling by resampling only: for workers (and tests) whose engine has no upscaler registry. */
import { LanczosUpscaler } from '../engine/upscale/resample.ts';
import type { UpscalerBackend } from '../core/upscales.ts';

export function resamplingBackend(): UpscalerBackend {
  const lanczos = new LanczosUpscaler(4);
  return {
    list: async () => [{ info: lanczos.info }],
    upscale: (_id, image) => lanczos.upscale(image),
  };
}
