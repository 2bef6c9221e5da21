/**
 * Stability's sizes: explicit width/height (seed 002: 320-1536, multiples of 64) or an aspect ratio.
 * An aspect ratio alone gets the size the model can draw (its own range, at most 1536) whose shape is
 * nearest the ratio, at about the model's native pixel count (its default width x height).
 */
import { modelLimits, SIZE_MULTIPLE, type CatalogModel } from '../../core/models.ts';

export const ASPECT_RATIOS = ['21:9', '16:9', '3:2', '5:4', '1:1', '4:5', '2:3', '9:16', '9:21'] as const;
export type AspectRatio = (typeof ASPECT_RATIOS)[number];

export const SIZE = { min: 320, max: 1536, multiple: 64 } as const;

/**
 * Sides are tried in multiples of 64 first (Stability's own multiple, SDXL's training sizes, and what
 * UNets exported at multiples of 64 need), then finer ones down to the engine's 8, only when the coarser
 * cannot come this close to the ratio (log-ratio: 0.05 is about 5 %): a small model's coarse sizes are
 * far apart in shape.
 */
const GRIDS = [64, 32, 16, SIZE_MULTIPLE];
const RATIO_TOLERANCE = 0.05;
/** How much a pixel count off the native one weighs against a shape off the ratio (both as |log|). */
const AREA_WEIGHT = 0.5;

interface Candidate {
  width: number;
  height: number;
  ratioError: number;
  cost: number;
}

function nearest(ratio: number, area: number, lo: number, hi: number, grid: number): Candidate | undefined {
  let best: Candidate | undefined;
  for (let width = Math.ceil(lo / grid) * grid; width <= hi; width += grid) {
    for (let height = Math.ceil(lo / grid) * grid; height <= hi; height += grid) {
      const ratioError = Math.abs(Math.log(width / height / ratio));
      const cost = ratioError + AREA_WEIGHT * Math.abs(Math.log((width * height) / area));
      if (!best || cost < best.cost - 1e-12) best = { width, height, ratioError, cost };
    }
  }
  return best;
}

export function sizeForAspect(aspect: AspectRatio, model: CatalogModel): { width: number; height: number } {
  const [rw, rh] = aspect.split(':').map(Number) as [number, number];
  const { width: range } = modelLimits(model);
  const hi = Math.min(SIZE.max, range.max);
  const { defaults } = model.manifest;
  let found: Candidate | undefined;
  for (const grid of GRIDS) {
    found = nearest(rw / rh, defaults.width * defaults.height, range.min, hi, grid) ?? found;
    if (found && found.ratioError <= RATIO_TOLERANCE) break;
  }
  // None only when the model's range starts above 1536: then its default size.
  return found ? { width: found.width, height: found.height } : { width: defaults.width, height: defaults.height };
}
