/**
 * A stand-in for diffusers' StableDiffusionSafetyChecker as optimum exports it: inputs clip_input
 * [batch, 3, 224, 224] (CLIP-normalised) and images [batch, H, W, 3]; outputs out_images (passed through)
 * and has_nsfw_concepts [batch] (bool). It flags an image whose mean normalised value is over
 * `threshold`: bright images are "unsafe", so a test decides which images get flagged.
 */
import { GraphBuilder } from '../../src/engine/onnx/builder.ts';
import type { ModelProto } from '../../src/engine/onnx/proto.ts';
import { IR_VERSION, OPSET } from './net.ts';

export function buildSafetyChecker(threshold: number): ModelProto {
  const g = new GraphBuilder('safety_checker');
  const clip = g.input('clip_input', 'float32', ['batch', 3, 224, 224]);
  const images = g.input('images', 'float32', ['batch', 'height', 'width', 3]);
  const mean = g.op('ReduceMean', [clip], { axes: [1, 2, 3], keepdims: 0 });
  const flagged = g.op('Greater', [mean, g.constant([threshold], [1])]);
  g.output('out_images', 'float32', ['batch', 'height', 'width', 3], g.op('Identity', [images]));
  g.output('has_nsfw_concepts', 'bool', ['batch'], flagged);
  return g.toModel({ opset: OPSET, irVersion: IR_VERSION, docString: 'Darkroom test model: flags bright images. Not a safety checker.' });
}

/** transformers' CLIPImageProcessor config as the SD 1.5 export ships it. */
export const PREPROCESSOR_CONFIG = {
  crop_size: { height: 224, width: 224 },
  do_center_crop: true,
  do_convert_rgb: true,
  do_normalize: true,
  do_rescale: true,
  do_resize: true,
  image_mean: [0.48145466, 0.4578275, 0.40821073],
  image_processor_type: 'CLIPImageProcessor',
  image_std: [0.26862954, 0.26130258, 0.27577711],
  resample: 3,
  rescale_factor: 0.00392156862745098,
  size: { shortest_edge: 224 },
};
