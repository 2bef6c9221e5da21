/**
 * ObjectStore on an S3-compatible bucket (AWS S3, MinIO, Ceph radosgw, R2, ...) through the AWS SDK.
 * Credentials come from the SDK's usual chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile,
 * web identity, instance metadata) unless given. Keys are the same as on disk (`outputs/<id>.png`).
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { assertSafeKey, assertSafePrefix, contentTypeOf, type ListedObject, type ObjectStore, type StoredObject } from './object-store.ts';

export interface S3StoreOptions {
  bucket: string;
  /** An S3-compatible endpoint (http(s)://host:port); absent: AWS's own for the region. */
  endpoint?: string;
  /** Absent or empty: the SDK's (AWS_REGION), else us-east-1. */
  region?: string;
  /** Path-style URLs (`endpoint/bucket/key`), which most self-hosted S3 servers want. */
  forcePathStyle?: boolean;
  /** Base URL from which public objects can be fetched as `<publicUrl>/<key>` (a CDN, a public bucket). */
  publicUrl?: string;
  /** Explicit credentials (tests); absent: the SDK's default chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Keys per ListObjectsV2 page (the service's own limit, 1000, when absent). */
  listPageSize?: number;
}

/** The most seconds a SigV4 presigned URL may live (7 days). */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

export class S3Store implements ObjectStore {
  readonly bucket: string;
  readonly client: S3Client;
  private readonly publicBase: string | undefined;
  private readonly listPageSize: number | undefined;

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.publicBase = options.publicUrl ? options.publicUrl.replace(/\/+$/, '') : undefined;
    this.listPageSize = options.listPageSize;
    const config: S3ClientConfig = {
      region: options.region || process.env['AWS_REGION'] || process.env['AWS_DEFAULT_REGION'] || 'us-east-1',
      forcePathStyle: options.forcePathStyle ?? false,
      // Checksums only where the service asks (S3-compatible servers differ in what they accept).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    if (options.endpoint) config.endpoint = options.endpoint;
    if (options.credentials) config.credentials = options.credentials;
    this.client = new S3Client(config);
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    assertSafeKey(key);
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentType: contentType, ContentLength: bytes.length }));
  }

  async get(key: string): Promise<StoredObject | undefined> {
    assertSafeKey(key);
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!r.Body) return undefined;
      return { bytes: await r.Body.transformToByteArray(), contentType: r.ContentType || contentTypeOf(key) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    assertSafeKey(key);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    assertSafeKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (!isNotFound(err)) throw err; // S3 answers 204 for a missing key; some look-alikes 404
    }
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    assertSafePrefix(prefix);
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          ...(prefix ? { Prefix: prefix } : {}),
          ...(token ? { ContinuationToken: token } : {}),
          ...(this.listPageSize ? { MaxKeys: this.listPageSize } : {}),
        }),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        yield { key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  /**
   * A URL that GETs the object with no other credentials until it expires (SigV4 query
   * signing, made locally: no request is sent). For handing private objects out directly.
   */
  async presignedUrl(key: string, ttlSeconds: number): Promise<string> {
    assertSafeKey(key);
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_PRESIGN_SECONDS) {
      throw new Error(`presigned URL lifetime must be 1 to ${MAX_PRESIGN_SECONDS} seconds`);
    }
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn: ttlSeconds });
  }

  /** `<DARKROOM_S3_PUBLIC_URL>/<key>` when a public base URL is set (for public outputs only), else undefined. */
  publicUrl(key: string): string | undefined {
    assertSafeKey(key);
    return this.publicBase ? `${this.publicBase}/${key}` : undefined;
  }

  close(): void {
    this.client.destroy();
  }
}

function isNotFound(err: unknown): boolean {
  if (err instanceof S3ServiceException) {
    if (err.name === 'NoSuchBucket') return false; // a missing bucket is a misconfiguration, not a missing object
    return err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404;
  }
  return false;
}
