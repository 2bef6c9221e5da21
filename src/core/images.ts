/**
 * Images that come in: uploads (for init images and upscales) and image URLs in requests.
 * Uploads are stored at `uploads/<sha256(user id)>/<uuid>.<ext>`. Inside Darkroom an upload is named
 * `upload:<upload id>` (UPLOAD_REF, beside OUTPUT_REF's `output:<output id>`); Stablecog's clients
 * get and send Stablecog's own form, `s3://<sha256(user id)>/<uuid>.<ext>`, which is accepted in
 * exactly that shape and means a Darkroom upload, never an object in an S3 bucket.
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
/** How a request names one of the user's uploads inside Darkroom: `upload:<upload id>`. */
export const UPLOAD_REF = 'upload:';
/** Stablecog's name of an upload (its wire form, kept for its clients): `s3://<sha256(user id)>/<uuid>.<ext>`. */
const STABLECOG_UPLOAD_NAME = /^s3:\/\/([0-9a-f]{64})\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(?:jpg|png|webp))$/;

/** Stablecog's MAX_UPLOAD_SIZE_MB. */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
/** Most pixels an incoming image may have (DARKROOM_MAX_IMAGE_PIXELS), checked from its header before anything decodes it. */
export const DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096;
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
  /** `upload:<id>`: how core and the dialects other than Stablecog name it. */
  ref: string;
  /** Stablecog's `s3://<sha256(user id)>/<uuid>.<ext>` name of it (init_image_url and the like). */
  object: string;
  /** The object key in the store. */
  key: string;
  contentType: string;
  width: number;
  height: number;
  createdAt: string;
}

/** Decodes the header: JPEG, PNG or WebP of at most `maxPixels` pixels, else InvalidImageError naming `field`. */
export async function inspectImage(bytes: Uint8Array, field: string, maxPixels = DEFAULT_MAX_IMAGE_PIXELS): Promise<ImageInfo> {
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
  if (meta.width * meta.height > maxPixels) {
    throw new InvalidImageError(field, `the image is ${meta.width}x${meta.height} (${meta.width * meta.height} pixels); at most ${maxPixels} pixels are accepted`);
  }
  return { format: format as ImageInfo['format'], width: meta.width, height: meta.height, hasAlpha: meta.hasAlpha === true };
}

export class ImageInputs {
  constructor(
    private readonly db: Database,
    private readonly store: ObjectStore,
    /** Rules for fetching client-named URLs (no loopback/private addresses unless allow-listed). */
    private readonly guard: UrlGuard = new UrlGuard(),
    /** Most pixels of an incoming image (DARKROOM_MAX_IMAGE_PIXELS). */
    private readonly maxPixels: number = DEFAULT_MAX_IMAGE_PIXELS,
  ) {}

  /**
   * Stores an upload: checks it whole first (nothing is written for a refused file), then its row,
   * then its one object (a row names its object before the object exists, so the orphan sweep never
   * takes an upload's object for a leftover; a failed write takes the row back). Returns its
   * `upload:<id>` ref and Stablecog's `s3://...` name, either usable as an init image or upscale input.
   */
  async upload(userId: string, bytes: Uint8Array, field = 'file', id: string = randomUUID()): Promise<{ id: string; ref: string; object: string; key: string; info: ImageInfo }> {
    if (bytes.length > MAX_UPLOAD_BYTES) throw new ImageTooLargeError(field, `uploads are limited to ${MAX_UPLOAD_BYTES / 1024 / 1024} MB`);
    if (bytes.length === 0) throw new InvalidImageError(field, 'the file is empty');
    const info = await inspectImage(bytes, field, this.maxPixels);
    const prefix = userPrefix(userId);
    const name = `${id}.${FORMATS[info.format]}`;
    const key = `uploads/${prefix}/${name}`;
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
    try {
      await this.store.put(key, bytes, `image/${info.format}`);
    } catch (err) {
      await uploads.deleteUpload(this.db.kysely, id).catch(() => undefined);
      throw err;
    }
    return { id, ref: UPLOAD_REF + id, object: `s3://${prefix}/${name}`, key, info };
  }

  /** One of the user's uploads by id, or undefined. */
  async findUpload(userId: string, id: string): Promise<UploadRecord | undefined> {
    const row = await uploads.findUploadById(this.db.kysely, id);
    if (!row || row.user_id !== userId) return undefined;
    return {
      id: row.id,
      ref: UPLOAD_REF + row.id,
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
   * Deletes objects a request fetched for itself (`inits/...` keys from `resolve`) when the request
   * is refused or fails before a job names them. Other keys (uploads, outputs) are left alone.
   */
  async discard(keys: Iterable<string | undefined>): Promise<void> {
    const mine = [...new Set([...keys].filter((k): k is string => !!k && k.startsWith('inits/')))];
    await Promise.allSettled(mine.map((k) => this.store.delete(k)));
  }

  /**
   * An image named in a request, as an object key in the store: one of the user's outputs
   * (`output:<id>`), one of the user's uploads (`upload:<id>`, or Stablecog's `s3://...` name), or an
   * http(s) URL, fetched now and kept under `inits/` (`discard` takes it back if the request fails).
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
    if (url.startsWith(UPLOAD_REF)) {
      const row = await uploads.findUploadById(this.db.kysely, url.slice(UPLOAD_REF.length));
      if (!row || row.user_id !== userId || !(await this.store.exists(row.object_key))) {
        throw new ImageNotFoundError(field, `no upload ${url.slice(UPLOAD_REF.length, UPLOAD_REF.length + 100)} of yours`);
      }
      return { key: row.object_key, info: { format: row.content_type.replace('image/', '') as ImageInfo['format'], width: row.width, height: row.height } };
    }
    if (url.startsWith('s3://')) {
      const m = STABLECOG_UPLOAD_NAME.exec(url);
      if (!m) throw new InvalidImageUrlError(field, `${JSON.stringify(url.slice(0, 100))} is not an upload name: s3:// names come from /v1/image/upload as s3://<sha256 of your user id>/<uuid>.<ext>`);
      if (m[1] !== userPrefix(userId)) throw new ImageNotOwnedError(field, 'that upload belongs to another account');
      const key = `uploads/${m[1]}/${m[2]}`;
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
    const info = await inspectImage(bytes, field, this.maxPixels);
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
