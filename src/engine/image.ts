/**
 * Image I/O for the engine (sharp): encoded bytes ↔ the float tensors the VAE reads and writes.
 *
 * Tensor layout: one image is RGB, channel-major (CHW: all of R, then G, then B), values in [-1, 1]
 * (byte u ↔ u / 127.5 − 1). Masks are single-channel (HW), values in 0..1, 1 = repaint.
 *
 * Decoding honours EXIF orientation, flattens transparency onto white, converts to sRGB 8-bit, and
 * can resize to a target size: 'cover' (scale to cover, then centre-crop; the default, no distortion)
 * or 'fill' (stretch). Only PNG, JPEG and WebP are accepted; anything else, or bytes that do not
 * decode, throws ImageDecodeError (callers map it to their API's invalid-image error).
 */
import sharp from 'sharp';
import { withPngText } from './png-text.ts';

export type ImageFormat = 'png' | 'jpeg' | 'webp';
export type ResizeFit = 'cover' | 'fill';
export type MaskSource = 'luminance' | 'alpha';

export interface DecodedImage {
  /** CHW RGB in [-1, 1], length 3 × width × height. */
  data: Float32Array;
  width: number;
  height: number;
}

export interface DecodeImageOptions {
  /** Target size; give both or neither (neither: the image's own size, after EXIF rotation). */
  width?: number;
  height?: number;
  /** How to reach the target aspect ratio: 'cover' (centre crop, default) or 'fill' (stretch). */
  fit?: ResizeFit;
}

export interface DecodeMaskOptions {
  /**
   * 'luminance': white = repaint, black = keep (diffusers); transparent pixels count as black.
   * 'alpha': fully transparent (alpha 0) = repaint, anything else = keep (OpenAI image edits).
   */
  source: MaskSource;
  /** Must match the fit used for the image it masks; default 'cover'. */
  fit?: ResizeFit;
}

/** The bytes are not an image Darkroom can read (unknown format, corrupt, or a mask without alpha). */
export class ImageDecodeError extends Error {
  override readonly name = 'ImageDecodeError';
}

export const IMAGE_MIME_TYPES: Readonly<Record<ImageFormat, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
};

/** Format from the magic bytes, or null for anything else. */
export function imageFormatOf(bytes: Uint8Array): ImageFormat | null {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) {
    return 'png';
  }
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'webp';
  return null;
}

/** Decodes PNG/JPEG/WebP bytes to a CHW float tensor in [-1, 1], optionally resized. */
export async function decodeImage(bytes: Buffer | Uint8Array, options: DecodeImageOptions = {}): Promise<DecodedImage> {
  const size = targetSize(options);
  const input = sharpInput(bytes);
  let pipeline = input.autoOrient().flatten({ background: { r: 255, g: 255, b: 255 } }).toColourspace('srgb');
  if (size) pipeline = pipeline.resize(size.width, size.height, resizeOptions(options.fit));
  const { data, info } = await decoded(pipeline.removeAlpha().raw({ depth: 'uchar' }));
  if (info.channels !== 3) throw new ImageDecodeError(`image cannot be decoded: expected 3 channels after conversion, got ${info.channels}`);
  return { data: rgbToChw(data, info.width, info.height), width: info.width, height: info.height };
}

/**
 * Decodes a mask to HW floats in 0..1 (1 = repaint) at width × height, with the same geometry
 * (EXIF rotation, fit) as decodeImage. Values between 0 and 1 appear along resized edges and in grey
 * luminance masks; threshold them if the pipeline wants a hard mask.
 */
export async function decodeMask(bytes: Buffer | Uint8Array, width: number, height: number, options: DecodeMaskOptions): Promise<Float32Array> {
  checkSize(width, height);
  const fit = resizeOptions(options.fit);
  const input = sharpInput(bytes);
  if (options.source === 'luminance') {
    const { data, info } = await decoded(
      input
        .autoOrient()
        .flatten({ background: { r: 0, g: 0, b: 0 } })
        .toColourspace('srgb')
        .resize(width, height, fit)
        .removeAlpha()
        .raw({ depth: 'uchar' }),
    );
    const n = info.width * info.height;
    const mask = new Float32Array(n);
    // ITU-R 601 luma, the weights of PIL's convert('L') that diffusers uses.
    for (let i = 0; i < n; i++) mask[i] = (0.299 * data[3 * i]! + 0.587 * data[3 * i + 1]! + 0.114 * data[3 * i + 2]!) / 255;
    return mask;
  }
  if (options.source !== 'alpha') throw new TypeError(`mask source must be 'luminance' or 'alpha', got ${String(options.source)}`);
  // Alpha at the mask's own size first: "fully transparent" is judged on the pixels as sent, then the
  // 0/255 repaint map is resized like the image.
  const { data, info } = await decoded(input.autoOrient().toColourspace('srgb').raw({ depth: 'uchar' }));
  if (info.channels !== 4) throw new ImageDecodeError('mask image has no alpha channel: transparent pixels mark the area to edit');
  const n = info.width * info.height;
  const repaint = Buffer.alloc(n);
  for (let i = 0; i < n; i++) repaint[i] = data[4 * i + 3] === 0 ? 255 : 0;
  // extractChannel: sharp would otherwise hand a one-channel raw image back as sRGB (3 channels).
  const resized = await sharp(repaint, { raw: { width: info.width, height: info.height, channels: 1 } })
    .resize(width, height, fit)
    .extractChannel(0)
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (resized.info.channels !== 1) throw new Error(`mask resize gave ${resized.info.channels} channels, expected 1`);
  const mask = new Float32Array(width * height);
  for (let i = 0; i < mask.length; i++) mask[i] = resized.data[i]! / 255;
  return mask;
}

/**
 * Shrinks an HW mask by `factor` (8: pixel → latent grid) by area averaging: each latent cell gets
 * the fraction of its factor × factor pixels marked for repaint. Unlike nearest sampling (diffusers
 * picks one pixel per cell), no stroke thinner than the cell is lost or kept by the luck of where it
 * falls, and a threshold at 0.5 afterwards means "at least half the cell is repainted".
 */
export function downsampleMask(mask: Float32Array, width: number, height: number, factor = 8): Float32Array {
  checkSize(width, height);
  if (!Number.isInteger(factor) || factor < 1) throw new RangeError(`factor must be a positive integer, got ${factor}`);
  if (width % factor !== 0 || height % factor !== 0) throw new RangeError(`mask size ${width}x${height} is not a multiple of ${factor}`);
  if (mask.length !== width * height) throw new RangeError(`mask has ${mask.length} values, expected ${width}x${height} = ${width * height}`);
  const w = width / factor;
  const h = height / factor;
  const out = new Float32Array(w * h);
  const area = factor * factor;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0;
      for (let dy = 0; dy < factor; dy++) {
        const row = (y * factor + dy) * width + x * factor;
        for (let dx = 0; dx < factor; dx++) sum += mask[row + dx]!;
      }
      out[y * w + x] = sum / area;
    }
  }
  return out;
}

/** Image `index` of an NCHW batch of 3-channel images, as a view (no copy). */
export function imageTensorFromBatch(batch: Float32Array, index: number, width: number, height: number): Float32Array {
  checkSize(width, height);
  const per = 3 * width * height;
  if (batch.length % per !== 0) throw new RangeError(`batch length ${batch.length} is not a multiple of 3x${width}x${height}`);
  const count = batch.length / per;
  if (!Number.isInteger(index) || index < 0 || index >= count) throw new RangeError(`image index ${index} out of range 0..${count - 1}`);
  return batch.subarray(index * per, (index + 1) * per);
}

/** CHW [-1, 1] → interleaved RGB bytes: (x + 1) / 2 × 255, rounded half up, clamped; NaN → 0. */
export function chwToRgb(chw: Float32Array, width: number, height: number): Buffer {
  checkSize(width, height);
  const n = width * height;
  if (chw.length !== 3 * n) throw new RangeError(`image tensor has ${chw.length} values, expected 3x${width}x${height} = ${3 * n}`);
  // Pixel by pixel, so the output is written in order (a plane at a time strided it 3 bytes apart);
  // every byte is written, so the buffer need not be zeroed.
  const out = Buffer.allocUnsafe(3 * n);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    out[j] = toByte(chw[i]!);
    out[j + 1] = toByte(chw[n + i]!);
    out[j + 2] = toByte(chw[2 * n + i]!);
  }
  return out;
}

function toByte(x: number): number {
  const v = ((x + 1) / 2) * 255 + 0.5;
  // Below 256 and not negative, `| 0` is Math.floor; NaN fails both tests → 0.
  return v >= 256 ? 255 : v >= 0 ? v | 0 : 0;
}

/** Interleaved RGB bytes → CHW in [-1, 1]. */
export function rgbToChw(rgb: Uint8Array, width: number, height: number): Float32Array {
  const n = width * height;
  if (rgb.length !== 3 * n) throw new RangeError(`RGB buffer has ${rgb.length} bytes, expected 3x${width}x${height}`);
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    out[i] = rgb[3 * i]! / 127.5 - 1;
    out[n + i] = rgb[3 * i + 1]! / 127.5 - 1;
    out[2 * n + i] = rgb[3 * i + 2]! / 127.5 - 1;
  }
  return out;
}

/**
 * Encodes a CHW [-1, 1] image. PNG is lossless and byte-for-byte deterministic (no metadata, no
 * timestamps, only the text chunks of `pngText`, keyword → text, written after IHDR); `quality`
 * (1..100, default 90) applies to JPEG and WebP.
 */
export async function encodeImage(
  chw: Float32Array,
  width: number,
  height: number,
  format: ImageFormat,
  quality?: number,
  pngText?: Readonly<Record<string, string>>,
): Promise<Buffer> {
  const rgb = chwToRgb(chw, width, height);
  const bytes = await encodeRgb(rgb, width, height, format, quality);
  return format === 'png' && pngText ? withPngText(bytes, pngText) : bytes;
}

export interface ContactSheetOptions {
  /** Pixels between cells and around the edge; default 4. */
  gap?: number;
  /** Background colour of gaps and of cells larger than their image; default '#111111'. */
  background?: string;
}

/**
 * A grid PNG of `images` (any format sharp reads), row by row, `columns` per row. Each cell is as
 * large as the largest image; smaller images are centred in their cell.
 */
export async function contactSheet(images: readonly { png: Buffer }[], columns: number, options: ContactSheetOptions = {}): Promise<Buffer> {
  if (images.length === 0) throw new RangeError('contact sheet needs at least one image');
  if (!Number.isInteger(columns) || columns < 1) throw new RangeError(`columns must be a positive integer, got ${columns}`);
  const gap = options.gap ?? 4;
  if (!Number.isInteger(gap) || gap < 0) throw new RangeError(`gap must be a non-negative integer, got ${gap}`);
  const sizes = await Promise.all(
    images.map(async ({ png }) => {
      const meta = await sharpInput(png)
        .metadata()
        .catch((err: unknown) => {
          throw new ImageDecodeError(`image cannot be decoded: ${(err as Error).message}`, { cause: err });
        });
      return { width: meta.width, height: meta.height };
    }),
  );
  const cols = Math.min(columns, images.length);
  const rows = Math.ceil(images.length / cols);
  const cellW = Math.max(...sizes.map((s) => s.width));
  const cellH = Math.max(...sizes.map((s) => s.height));
  const sheet = sharp({
    create: {
      width: cols * cellW + (cols + 1) * gap,
      height: rows * cellH + (rows + 1) * gap,
      channels: 3,
      background: options.background ?? '#111111',
    },
  });
  const layers = images.map(({ png }, k) => {
    const col = k % cols;
    const row = Math.floor(k / cols);
    return {
      input: png,
      left: gap + col * (cellW + gap) + Math.floor((cellW - sizes[k]!.width) / 2),
      top: gap + row * (cellH + gap) + Math.floor((cellH - sizes[k]!.height) / 2),
    };
  });
  return sheet.composite(layers).removeAlpha().png().toBuffer();
}

async function encodeRgb(rgb: Buffer, width: number, height: number, format: ImageFormat, quality = 90): Promise<Buffer> {
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new RangeError(`quality must be an integer in 1..100, got ${quality}`);
  const img = sharp(rgb, { raw: { width, height, channels: 3 } });
  switch (format) {
    case 'png':
      return img.png({ compressionLevel: 6, adaptiveFiltering: false }).toBuffer();
    case 'jpeg':
      return img.jpeg({ quality }).toBuffer();
    case 'webp':
      return img.webp({ quality }).toBuffer();
    default:
      throw new TypeError(`unknown image format ${String(format satisfies never)}`);
  }
}

function sharpInput(bytes: Buffer | Uint8Array): sharp.Sharp {
  if (imageFormatOf(bytes) === null) {
    throw new ImageDecodeError('image cannot be decoded: not a PNG, JPEG or WebP file');
  }
  return sharp(bytes, { failOn: 'error' });
}

async function decoded(pipeline: sharp.Sharp): Promise<{ data: Buffer; info: sharp.OutputInfo }> {
  try {
    return await pipeline.toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new ImageDecodeError(`image cannot be decoded: ${(err as Error).message}`, { cause: err });
  }
}

function targetSize(options: DecodeImageOptions): { width: number; height: number } | undefined {
  const { width, height } = options;
  if (width === undefined && height === undefined) return undefined;
  if (width === undefined || height === undefined) throw new RangeError('give both width and height, or neither');
  checkSize(width, height);
  return { width, height };
}

function resizeOptions(fit: ResizeFit = 'cover'): sharp.ResizeOptions {
  if (fit === 'cover') return { fit: 'cover', position: 'centre' };
  if (fit === 'fill') return { fit: 'fill' };
  throw new TypeError(`fit must be 'cover' or 'fill', got ${String(fit)}`);
}

function checkSize(width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image size must be positive integers, got ${width}x${height}`);
  }
}

function ascii(b: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...b.subarray(start, end));
}
