/** A batch's ControlNets, ready for the denoising loop: sessions opened, control maps made and laid out per UNet row. */
import type { LoadedModel } from '../models/loaded-model.ts';
import type { GenerationRequest } from '../pipelines/request.ts';
import { repeatBatch, concatBatch } from '../pipelines/tensors.ts';
import { readControlImage } from './control-image.ts';
import type { ControlNetRun } from './residuals.ts';

/**
 * The ControlNets of requests that share a batch (the same names and weights, see batchKey), each
 * request's control map repeated for its images, once per guidance half ([uncond..., cond...], as
 * the text states are laid out).
 */
export async function controlNetRuns(model: LoadedModel, reqs: readonly GenerationRequest[], halves: number): Promise<ControlNetRun[]> {
  const first = reqs[0]!;
  const runs: ControlNetRun[] = [];
  for (const [k, c] of (first.controlnets ?? []).entries()) {
    const session = await model.controlNet(c.name);
    const maps: Float32Array[] = [];
    for (const req of reqs) {
      const own = req.controlnets![k]!;
      maps.push(repeatBatch(await readControlImage(own.image, own.preprocessor, req.width, req.height, k), req.numOutputs));
    }
    const half = concatBatch(...maps);
    const rows = reqs.reduce((n, r) => n + r.numOutputs, 0) * halves;
    runs.push({
      session,
      cond: { data: repeatBatch(half, halves), dims: [rows, 3, first.height, first.width] },
      weight: c.weight,
      start: c.start ?? 0,
      end: c.end ?? 1,
    });
  }
  return runs;
}
