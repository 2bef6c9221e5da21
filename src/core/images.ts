/**
 * Images that come in: uploads (for init images and upscales) and image URLs in requests.
 * Uploads are stored at `uploads/<sha256(user id)>/<uuid>.<ext>` and named to clients as
 * `s3://<sha256(user id)>/<uuid>.<ext>`, Stablecog's form, so the same strings round-trip.
 */
import { createHash, randomUUID } from 'node:crypto';
import sharp from 'sharp';
import type { Database } from '../db/database.ts';
import { timestamp } from '../db/clock.ts';
import * as gens from '../db/generations.ts';
import * as uploads from '../db/uploads.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import {
  ImageNotFoundError,
  ImageNotOwnedError,
  ImageTooLargeError,
  InvalidImageError,
  InvalidImageUrlError,
} from './errors.ts';
import { UrlGuard, UrlRefusedError, type GuardedResponse } from './url-guard.ts';

/** How a request names one of the user's generated images as an input: `output:<output id>`. */
export const OUTPUT_REF = 'output:';

/** Stablecog's MAX_UPLOAD_SIZE_MB. */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
/** Stablecog's MAX_GENERATE_IMAGE_SIZE, for init images fetched from a URL. */
export const MAX_URL_IMAGE_BYTES = 5 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 20_000;
const FORMATS = { jpeg: 'jpg', png: 'png', webp: 'webp' } as const;

export function userPrefix(userId: string): string {
  return createHash('sha256').update(userId).digest('hex');
}

export interface ImageInfo {
  format: keyof typeof FORMATS;
  width: number;
  height: number;
  /** Whether it has an alpha channel (known for images inspected now, not for stored uploads). */
  hasAlpha?: boolean;
}

/** A stored upload, as the dialects name it. */
export interface UploadRecord {
  id: string;
  /** The `s3://...` name (init_image_url and the like). */
  object: string;
  /** The object key in the store. */
  key: string;
  contentType: string;
  width: number;
  height: number;
  createdAt: string;
}

/** Decodes the header: JPEG, PNG or WebP, else InvalidImageError naming `field`. */
export async function inspectImage(bytes: Uint8Array, field: string): Promise<ImageInfo> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes).metadata();
  } catch {
    throw new InvalidImageError(field, 'the file is not an image Darkroom can read (JPEG, PNG or WebP)');
  }
  const format = meta.format as string;
  if (!(format in FORMATS) || !meta.width || !meta.height) {
    throw new InvalidImageError(field, `images must be JPEG, PNG or WebP (this one is ${format ?? 'unknown'})`);
  }
  return { format: format as ImageInfo['format'], width: meta.width, height: meta.height, hasAlpha: meta.hasAlpha === true };
}

export class ImageInputs {
  constructor(
    private readonly db: Database,
    private readonly store: ObjectStore,
    /** Rules for fetching client-named URLs (no loopback/private addresses unless allow-listed). */
    private readonly guard: UrlGuard = new UrlGuard(),
  ) {}

  /** Stores an upload; returns the `s3://...` name to use as init_image_url or upscale input. */
  async upload(userId: string, bytes: Uint8Array, field = 'file', id: string = randomUUID()): Promise<{ id: string; object: string; key: string; info: ImageInfo }> {
    if (bytes.length > MAX_UPLOAD_BYTES) throw new ImageTooLargeError(field, `uploads are limited to ${MAX_UPLOAD_BYTES / 1024 / 1024} MB`);
    if (bytes.length === 0) throw new InvalidImageError(field, 'the file is empty');
    const info = await inspectImage(bytes, field);
    const prefix = userPrefix(userId);
    const name = `${id}.${FORMATS[info.format]}`;
    const key = `uploads/${prefix}/${name}`;
    await this.store.put(key, bytes, `image/${info.format}`);
    await uploads.insertUpload(this.db.kysely, {
      id,
      user_id: userId,
      object_key: key,
      content_type: `image/${info.format}`,
      bytes: bytes.length,
      width: info.width,
      height: info.height,
      created_at: timestamp(),
    });
    return { id, object: `s3://${prefix}/${name}`, key, info };
  }

  /** One of the user's uploads by id, or undefined. */
  async findUpload(userId: string, id: string): Promise<UploadRecord | undefined> {
    const row = await uploads.findUploadById(this.db.kysely, id);
    if (!row || row.user_id !== userId) return undefined;
    return {
      id: row.id,
      object: `s3://${row.object_key.slice('uploads/'.length)}`,
      key: row.object_key,
      contentType: row.content_type,
      width: row.width,
      height: row.height,
      createdAt: row.created_at,
    };
  }

  /** Deletes one of the user's uploads (row and bytes); false when there is none. */
  async deleteUpload(userId: string, id: string): Promise<boolean> {
    const found = await this.findUpload(userId, id);
    if (!found) return false;
    await uploads.deleteUpload(this.db.kysely, id);
    await this.store.delete(found.key);
    return true;
  }

  /**
   * An image named in a request, as an object key in the store: an upload of this user
   * (`s3://...`), or an http(s) URL, fetched now and kept under `inits/`.
   */
  async resolve(userId: string, url: string, field: string, maxBytes = MAX_URL_IMAGE_BYTES): Promise<{ key: string; info: ImageInfo }> {
    if (url.startsWith(OUTPUT_REF)) {
      // One of the user's own outputs (Leonardo's init_generation_image_id).
      const output = await gens.getOutput(this.db.kysely, url.slice(OUTPUT_REF.length));
      if (!output || output.user_id !== userId || !(await this.store.exists(output.image_key))) {
        throw new ImageNotFoundError(field, `no generated image ${url.slice(OUTPUT_REF.length)} of yours`);
      }
      return { key: output.image_key, info: { format: 'png', width: output.width, height: output.height } };
    }
    if (url.startsWith('s3://')) {
      const rest = url.slice('s3://'.length);
      const prefix = userPrefix(userId);
      if (!rest.startsWith(`${prefix}/`)) throw new ImageNotOwnedError(field, 'that upload belongs to another account');
      const key = `uploads/${rest}`;
      const row = await uploads.findUploadByKey(this.db.kysely, key);
      if (!row || !(await this.store.exists(key))) throw new ImageNotFoundError(field, `no upload ${url}`);
      return { key, info: { format: row.content_type.replace('image/', '') as ImageInfo['format'], width: row.width, height: row.height } };
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new InvalidImageUrlError(field, `not a URL: ${JSON.stringify(url.slice(0, 100))}; use an http(s) URL or an s3:// name from /v1/image/upload`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new InvalidImageUrlError(field, `unsupported URL scheme ${parsed.protocol}; use http(s) or an s3:// name from /v1/image/upload`);
    }
    const bytes = await fetchLimited(this.guard, parsed, maxBytes, field);
    const info = await inspectImage(bytes, field);
    const key = `inits/${randomUUID()}.${FORMATS[info.format]}`;
    await this.store.put(key, bytes, `image/${info.format}`);
    return { key, info };
  }
}

async function fetchLimited(guard: UrlGuard, url: URL, maxBytes: number, field: string): Promise<Uint8Array> {
  let res: GuardedResponse;
  try {
    res = await guard.request(url, { maxBytes, timeoutMs: FETCH_TIMEOUT_MS });
  } catch (err) {
    if (err instanceof UrlRefusedError && err.reason === 'too_large') {
      throw new ImageTooLargeError(field, `the image at ${url.href} is over ${maxBytes / 1024 / 1024} MB`);
    }
    throw new InvalidImageUrlError(field, `could not fetch ${url.href}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (res.status < 200 || res.status >= 300) throw new InvalidImageUrlError(field, `fetching ${url.href} answered HTTP ${res.status}`);
  return res.body;
}
