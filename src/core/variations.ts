/**
 * Variations of a generated image that are generations themselves (Leonardo's unzoom and universal
 * upscaler): a generation job like any other (priced by its tariff in pricing.ts, debited, admitted,
 * refunded on failure through the one lifecycle), made with its source generation's prompt and
 * settings and the output's own seed, and linked to that output (generations.variation_of,
 * transform_type), so the output's answer lists it.
 *
 *  - unzoom: the image shrunk by 1 / (1 + amount) and centred on a canvas of its own size, the
 *    border transparent; the engine's inpainting fills the border (the alpha is the mask) and keeps
 *    the centre, so the picture is seen from further away at the same size.
 *  - universal upscaler: the worker runs the default upscaler on the image and resizes its result to
 *    exactly `multiplier` times the image (sharp), then an image-to-image pass at that size redraws it
 *    at a strength taken from the creativity (creativityStrength / 20: 1 → 0.05, 10 → 0.5).
 */
import sharp from 'sharp';
import type { Generation, GenerationOutput } from '../db/schema.ts';
import type { Auth } from './accounts.ts';
import { ImageNotFoundError, OutputNotFoundError, ValidationError } from './errors.ts';
import { storedSettings, type GenerationSpec, type Generations } from './generations.ts';
import { OUTPUT_REF, type ImageInputs } from './images.ts';
import type { UpscalerList } from './upscales.ts';
import type { ObjectStore } from '../storage/object-store.ts';

export const TRANSFORM_UNZOOM = 'UNZOOM';
export const TRANSFORM_UNIVERSAL_UPSCALER = 'UNIVERSAL_UPSCALER';

/** Leonardo publishes no default amount; Darkroom's: the view one and a half times as wide. */
export const DEFAULT_UNZOOM_AMOUNT = 0.5;
export const UPSCALE_MULTIPLIER = { min: 1, max: 2, default: 1.5 } as const;
/** Leonardo's creativityStrength range and the SDK's default. */
export const CREATIVITY = { min: 1, max: 10, default: 5 } as const;

/** The image-to-image strength a creativityStrength asks for. */
export function creativityStrength(creativity: number): number {
  return Math.round((creativity / 20) * 1000) / 1000;
}

/** The size `multiplier` times `side`, on the engine's grid of 8. */
function scaled(side: number, multiplier: number): number {
  return Math.max(8, Math.round((side * multiplier) / 8) * 8);
}

interface Source {
  output: GenerationOutput;
  generation: Generation;
}

export interface VariationDeps {
  generations: Generations;
  images: ImageInputs;
  store: ObjectStore;
  upscalers: UpscalerList;
}

export interface VariationOptions {
  source: string;
  requestId?: string;
  /** Leonardo's wire values for the generation's own answers. */
  dialect?: string;
  extra?: Record<string, unknown>;
}

export class Variations {
  constructor(private readonly deps: VariationDeps) {}

  /** One of the user's generated images, by its id, or (`isVariation`) the image of one of the user's variations; else a 404 naming `field`. */
  async source(auth: Auth, id: string, field: string, isVariation = false): Promise<Source> {
    const { generations } = this.deps;
    if (isVariation) {
      const gen = await generations.getOwned(auth.user.id, id);
      const output = gen && gen.variation_of !== null ? (await generations.outputs(gen.id))[0] : undefined;
      if (!gen || !output) throw new ImageNotFoundError(field, `${field}: no finished variation ${id} of yours`);
      return { output, generation: gen };
    }
    const found = await generations.ownedOutput(auth.user.id, id);
    if (!found) throw new OutputNotFoundError(field, `${field}: no generated image ${id} of yours`);
    return found;
  }

  /** Starts an unzoom of the image; the generation job, answered at once. */
  async unzoom(auth: Auth, src: Source, amount: number, options: VariationOptions): Promise<Generation> {
    const { output } = src;
    const stored = await this.deps.store.get(output.image_key);
    if (!stored) throw new OutputNotFoundError('id', `id: the image ${output.id} is no longer stored`);
    const canvas = await unzoomCanvas(stored.bytes, output.width, output.height, amount);
    const upload = await this.deps.images.upload(auth.user.id, canvas, 'id');
    const spec: GenerationSpec = { ...specOf(src), initImageUrl: upload.ref, maskUrl: upload.ref, maskSource: 'alpha', strength: 1, tariff: 'unzoom' };
    try {
      return await this.deps.generations.start(auth, spec, { ...options, variation: { of: output.id, transformType: TRANSFORM_UNZOOM } });
    } catch (err) {
      // A refused variation leaves nothing behind.
      await this.deps.images.deleteUpload(auth.user.id, upload.id).catch(() => undefined);
      throw err;
    }
  }

  /** Starts a universal upscale of the image (`multiplier` 1-2, `creativity` 1-10); the generation job, answered at once. */
  async universalUpscale(auth: Auth, src: Source, multiplier: number, creativity: number, prompt: string | undefined, options: VariationOptions): Promise<Generation> {
    const { output } = src;
    const [upscaler] = await this.deps.upscalers.list();
    if (!upscaler) throw new ValidationError('upscaleMultiplier', 'upscaleMultiplier: no upscaler is installed');
    const width = scaled(output.width, multiplier);
    const height = scaled(output.height, multiplier);
    const spec: GenerationSpec = {
      ...specOf(src),
      ...(prompt ? { prompt } : {}),
      width,
      height,
      initImageUrl: OUTPUT_REF + output.id,
      strength: creativityStrength(creativity),
      tariff: 'universal_upscaler',
    };
    try {
      return await this.deps.generations.start(auth, spec, {
        ...options,
        variation: { of: output.id, transformType: TRANSFORM_UNIVERSAL_UPSCALER },
        upscaleInitWith: upscaler.info.id,
      });
    } catch (err) {
      // The model's size limits apply to the upscaled size, which the multiplier chose.
      if (err instanceof ValidationError && (err.field === 'width' || err.field === 'height')) {
        throw new ValidationError('upscaleMultiplier', `upscaleMultiplier: ${multiplier} makes the ${output.width}x${output.height} image ${width}x${height}: ${err.message}`);
      }
      throw err;
    }
  }
}

/** The source generation's prompt and settings, one image with the output's own seed, at the output's size. */
function specOf({ output, generation }: Source): GenerationSpec {
  const r = storedSettings(generation).request;
  return {
    model: generation.model,
    prompt: r.prompt,
    negativePrompt: r.negativePrompt ?? generation.negative_prompt,
    scheduler: r.scheduler,
    steps: r.steps,
    guidance: r.guidance,
    seed: output.seed,
    numOutputs: 1,
    width: output.width,
    height: output.height,
    ...(r.tiling ? { tiling: r.tiling } : {}),
    ...(r.loras?.length ? { loras: r.loras } : {}),
    ...(r.promptSyntax ? { promptSyntax: r.promptSyntax } : {}),
    ...(r.noise ? { noise: r.noise } : {}),
  };
}

/** The image shrunk by 1 / (1 + amount), centred on a transparent neutral-grey canvas of its own size (a PNG). */
export async function unzoomCanvas(image: Uint8Array, width: number, height: number, amount: number): Promise<Uint8Array> {
  const inner = { width: Math.max(1, Math.round(width / (1 + amount))), height: Math.max(1, Math.round(height / (1 + amount))) };
  const shrunk = await sharp(image).resize(inner.width, inner.height, { fit: 'fill', kernel: 'lanczos3' }).ensureAlpha(1).png().toBuffer();
  const png = await sharp({ create: { width, height, channels: 4, background: { r: 128, g: 128, b: 128, alpha: 0 } } })
    .composite([{ input: shrunk, left: Math.floor((width - inner.width) / 2), top: Math.floor((height - inner.height) / 2) }])
    .png()
    .toBuffer();
  return new Uint8Array(png);
}
