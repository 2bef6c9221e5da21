/**
 * The control map a ControlNet reads (controlnet_cond): RGB, channel-major, values in [0, 1], at the
 * picture's size (diffusers' ControlNet image processor: resize, no normalisation to [-1, 1]).
 */
import { EngineInputError } from '../errors.ts';
import { decodeImage, ImageDecodeError } from '../image.ts';
import type { ControlPreprocessor } from '../pipelines/request.ts';
import { canny } from './canny.ts';

/** Preprocessors Darkroom computes itself; others (depth, pose...) need a model it does not ship. */
export const CONTROL_PREPROCESSORS: readonly ControlPreprocessor[] = ['canny', 'none'];

export function isControlPreprocessor(s: unknown): s is ControlPreprocessor {
  return (CONTROL_PREPROCESSORS as readonly unknown[]).includes(s);
}

/** [0, 1] CHW from [-1, 1] CHW, or Canny edges of it (white on black, in all three channels). */
export function controlMap(chw: Float32Array, width: number, height: number, preprocessor: ControlPreprocessor): Float32Array {
  const n = width * height;
  if (preprocessor === 'none') return chw.map((v) => (v + 1) / 2);
  const rgb = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = Math.round((chw[c * n + i]! + 1) * 127.5);
  const edges = canny(rgb, width, height);
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) out[c * n + i] = edges[i]! / 255;
  return out;
}

/** Decodes controlnets[index].image to width x height (cover) and applies its preprocessor. */
export async function readControlImage(
  bytes: Uint8Array,
  preprocessor: ControlPreprocessor,
  width: number,
  height: number,
  index: number,
): Promise<Float32Array> {
  try {
    const img = await decodeImage(bytes, { width, height });
    return controlMap(img.data, width, height, preprocessor);
  } catch (err) {
    if (err instanceof ImageDecodeError) throw new EngineInputError(`controlnets[${index}].image`, `controlnets[${index}].image: ${err.message}`);
    throw err;
  }
}
