/**
 * Generated images in the format a dialect's client asked for. Outputs are stored as PNG; JPEG and
 * WebP are encoded from it on the way out (Stability's output_format, OpenAI's output_format).
 */
import sharp from 'sharp';
import type { ObjectStore } from '../storage/object-store.ts';

export type OutputFormat = 'png' | 'jpeg' | 'webp';

export const OUTPUT_MIME_TYPES: Readonly<Record<OutputFormat, string>> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

/** The bytes of a stored output in `format` (JPEG and WebP at quality 90); throws when the object is gone. */
export async function outputBytes(store: ObjectStore, key: string, format: OutputFormat = 'png'): Promise<{ bytes: Buffer; contentType: string }> {
  const obj = await store.get(key);
  if (!obj) throw new Error(`output ${key} is no longer in the store`);
  const stored = Buffer.from(obj.bytes);
  if (format === 'png' && obj.contentType === 'image/png') return { bytes: stored, contentType: 'image/png' };
  const img = sharp(stored);
  const bytes = format === 'jpeg' ? await img.jpeg({ quality: 90 }).toBuffer() : format === 'webp' ? await img.webp({ quality: 90 }).toBuffer() : await img.png().toBuffer();
  return { bytes, contentType: OUTPUT_MIME_TYPES[format] };
}
