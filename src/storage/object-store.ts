/**
 * Where images live: an object store addressed by keys like `outputs/<id>.png`. The filesystem
 * implementation is the embedded default; the S3 one (any S3-compatible service) is for scaled-out
 * deployments. Both keep the same contract (test/storage/contract.ts runs it on each).
 */
export interface StoredObject {
  bytes: Uint8Array;
  contentType: string;
}

/** One object as `list` names it. */
export interface ListedObject {
  key: string;
  /** Bytes. */
  size: number;
  lastModified: Date;
}

export interface ObjectStore {
  /** Stores (or replaces) the object; readers see the old bytes or the new ones, never half. */
  put(key: string, bytes: Uint8Array, contentType: string): Promise<void>;
  /** undefined when there is no such object. */
  get(key: string): Promise<StoredObject | undefined>;
  exists(key: string): Promise<boolean>;
  /** Removes the object; no error when there is none. */
  delete(key: string): Promise<void>;
  /**
   * Every object whose key starts with `prefix` (a plain string prefix, as S3's: `outputs/` or
   * `outputs/ab`), in no promised order. Objects put or deleted while it runs may or may not show.
   */
  list(prefix: string): AsyncIterable<ListedObject>;
  /** Throws when the store cannot be reached (readiness checks). */
  check(): Promise<void>;
  /** Releases what the store holds open (an S3 client's sockets); absent when it holds nothing. */
  close?(): void;
}

/** Keys are relative paths of safe segments: letters, digits, - _ . (no "..", no leading slash). */
export function assertSafeKey(key: string): void {
  const segments = key.split('/');
  if (!segments.length || segments.some((s) => !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(s) || s.includes('..'))) {
    throw new Error(`invalid object key: ${JSON.stringify(key)}`);
  }
}

export function contentTypeOf(key: string): string {
  const ext = key.slice(key.lastIndexOf('.') + 1).toLowerCase();
  return { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp' }[ext] ?? 'application/octet-stream';
}

/** A `list` prefix: empty (everything) or the start of a key (`outputs/`, `outputs/ab`). */
export function assertSafePrefix(prefix: string): void {
  if (prefix === '') return;
  if (!/^[A-Za-z0-9_][A-Za-z0-9_./-]*$/.test(prefix) || prefix.includes('..') || prefix.includes('//')) {
    throw new Error(`invalid object key prefix: ${JSON.stringify(prefix)}`);
  }
}
