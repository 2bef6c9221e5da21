/**
 * A super-resolution model in ONNX (Real-ESRGAN / SwinIR style exports): `model.onnx` takes one RGB
 * image [1, 3, h, w] and returns it `scale` times larger. Whole large images would need gigabytes of
 * activations, so the image goes through in tiles with an overlap at least the network's receptive
 * field; each tile keeps only its centre, so the seams vanish.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GenerationCancelledError, ModelFormatError } from '../errors.ts';
import { decodeImage, encodeImage } from '../image.ts';
import { OnnxSession, type SessionOptions } from '../runtime/session.ts';
import { UPSCALER_MANIFEST, type UpscaledImage, type Upscaler, type UpscalerInfo } from './types.ts';

export interface UpscalerManifest extends UpscalerInfo {
  /** Pixel range the model takes and gives: Real-ESRGAN uses 0..1. */
  range: 'zero-one' | 'minus-one-one';
  /** Tile side in input pixels, and the overlap on each side. */
  tile: number;
  overlap: number;
}

export async function readUpscalerManifest(dir: string): Promise<UpscalerManifest> {
  const path = join(dir, UPSCALER_MANIFEST);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new ModelFormatError(`cannot read ${path}: ${(err as Error).message}`, path);
  }
  const problems: string[] = [];
  const str = (k: string) => (typeof raw[k] === 'string' && raw[k] !== '' ? (raw[k] as string) : (problems.push(`"${k}" must be a non-empty string`), ''));
  const int = (k: string, fallback?: number) => {
    const v = raw[k] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) problems.push(`"${k}" must be a non-negative integer`);
    return v as number;
  };
  const range = raw['range'] ?? 'zero-one';
  if (range !== 'zero-one' && range !== 'minus-one-one') problems.push('"range" must be "zero-one" or "minus-one-one"');
  const manifest: UpscalerManifest = {
    id: str('id'),
    name: str('name'),
    description: typeof raw['description'] === 'string' ? raw['description'] : '',
    kind: 'super-resolution',
    scale: int('scale'),
    license: typeof raw['license'] === 'string' ? raw['license'] : undefined,
    range: range as UpscalerManifest['range'],
    tile: int('tile', 256),
    overlap: int('overlap', 16),
  };
  if (manifest.scale < 1) problems.push('"scale" must be at least 1');
  if (manifest.tile <= 2 * manifest.overlap) problems.push('"tile" must exceed twice "overlap"');
  if (problems.length) throw new ModelFormatError(`invalid ${path}: ${problems.join('; ')}`, path);
  return manifest;
}

export class OnnxUpscaler implements Upscaler {
  private constructor(
    readonly info: UpscalerManifest,
    private readonly session: OnnxSession,
  ) {}

  static async load(dir: string, options: SessionOptions): Promise<OnnxUpscaler> {
    const manifest = await readUpscalerManifest(dir);
    const session = await OnnxSession.load(join(dir, 'model.onnx'), options);
    if (session.inputs.length !== 1) {
      await session.dispose();
      throw new ModelFormatError(`${session.path}: an upscaler takes one image input (it has ${session.inputs.map((i) => i.name).join(', ')})`, session.path);
    }
    return new OnnxUpscaler(manifest, session);
  }

  async upscale(image: Uint8Array, signal?: AbortSignal): Promise<UpscaledImage> {
    const src = await decodeImage(image);
    const { width, height } = src;
    const s = this.info.scale;
    const toModel = this.info.range === 'zero-one' ? (v: number) => (v + 1) / 2 : (v: number) => v;
    const fromModel = this.info.range === 'zero-one' ? (v: number) => v * 2 - 1 : (v: number) => v;
    const out = new Float32Array(3 * width * s * height * s);
    const { tile, overlap } = this.info;
    const inputName = this.session.inputs[0]!.name;

    for (let y0 = 0; y0 < height; y0 += tile) {
      for (let x0 = 0; x0 < width; x0 += tile) {
        if (signal?.aborted) throw new GenerationCancelledError();
        // The tile [x0, x1) × [y0, y1) runs with its overlap margin, clamped to the image.
        const x1 = Math.min(x0 + tile, width);
        const y1 = Math.min(y0 + tile, height);
        const ax = Math.max(0, x0 - overlap);
        const ay = Math.max(0, y0 - overlap);
        const bx = Math.min(width, x1 + overlap);
        const by = Math.min(height, y1 + overlap);
        const tw = bx - ax;
        const th = by - ay;
        const input = new Float32Array(3 * tw * th);
        for (let c = 0; c < 3; c++)
          for (let y = 0; y < th; y++)
            for (let x = 0; x < tw; x++) input[(c * th + y) * tw + x] = toModel(src.data[(c * height + ay + y) * width + ax + x]!);
        const result = await this.session.run({ [inputName]: { data: input, dims: [1, 3, th, tw] } });
        const o = Object.values(result)[0]!;
        if (o.dims[2] !== th * s || o.dims[3] !== tw * s) {
          throw new ModelFormatError(`${this.session.path}: expected a ${s}x larger output, got [${o.dims.join(', ')}] for [1, 3, ${th}, ${tw}]`, this.session.path);
        }
        // Keep the tile's own area of the output: the margins were only context.
        const ow = tw * s;
        const oh = th * s;
        const W = width * s;
        const H = height * s;
        for (let c = 0; c < 3; c++)
          for (let y = (y0 - ay) * s; y < (y1 - ay) * s; y++)
            for (let x = (x0 - ax) * s; x < (x1 - ax) * s; x++) {
              out[(c * H + ay * s + y) * W + ax * s + x] = fromModel(o.data[(c * oh + y) * ow + x]!);
            }
      }
    }
    const png = await encodeImage(out, width * s, height * s, 'png');
    return { png, width: width * s, height: height * s };
  }

  dispose(): Promise<void> {
    return this.session.dispose();
  }
}
