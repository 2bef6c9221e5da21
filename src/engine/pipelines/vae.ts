/**
 * VAE decode and encode, one image at a time: fp16 VAE decoders are known to misbehave at batch > 1
 * (diffusers' ONNX pipeline does the same), and per-image runs keep batch output k equal to a single run.
 */
import type { LoadedModel } from '../models/loaded-model.ts';
import { checkFinite } from './finite.ts';
import { batchItem } from './tensors.ts';

export async function decodeLatents(model: LoadedModel, latents: Float32Array, images: number, h: number, w: number): Promise<Float32Array[]> {
  // vae/config.json's normalisation undone: z = latents / scaling_factor + shift_factor.
  const scale = 1 / model.info.vae.scalingFactor;
  const shift = model.info.vae.shiftFactor;
  const out: Float32Array[] = [];
  for (let k = 0; k < images; k++) {
    const item = batchItem(latents, images, k);
    // Latents come from the UNet (or an image's encoding): check them here, once per image, not per step.
    checkFinite(item, 'unet', model.unet);
    const scaled = new Float32Array(item.length);
    for (let i = 0; i < item.length; i++) scaled[i] = item[i]! * scale + shift;
    const result = await model.vaeDecoder.run({ latent_sample: { data: scaled, dims: [1, item.length / (h * w), h, w] } });
    const pixels = (result['sample'] ?? Object.values(result)[0]!).data;
    checkFinite(pixels, 'vaeDecoder', model.vaeDecoder);
    for (let i = 0; i < pixels.length; i++) pixels[i] = Math.min(1, Math.max(-1, pixels[i]!));
    out.push(pixels);
  }
  return out;
}

/**
 * Encodes an image (CHW in [-1, 1]) to normalised latents [1, 4, H/8, W/8], (z - shift_factor) * scaling_factor. Newer exports output
 * `latent_parameters` (mean and log-variance on the channel axis): we take the mean, so the result
 * does not depend on a random draw; older ones output an already-sampled `latent_sample`.
 * Always batch 1, so the mean is the first half of the flat output.
 */
export async function encodeImage(model: LoadedModel, pixels: Float32Array, width: number, height: number): Promise<Float32Array> {
  const encoder = await model.vaeEncoder();
  const result = await encoder.run({ sample: { data: pixels, dims: [1, 3, height, width] } });
  const params = result['latent_parameters'];
  const raw = params ? params.data.subarray(0, params.data.length / 2) : (result['latent_sample'] ?? Object.values(result)[0]!).data;
  checkFinite(raw, 'vaeEncoder', encoder);
  const out = new Float32Array(raw.length);
  const { scalingFactor, shiftFactor } = model.info.vae;
  for (let i = 0; i < raw.length; i++) out[i] = (raw[i]! - shiftFactor) * scalingFactor;
  return out;
}
