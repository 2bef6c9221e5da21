/**
 * Where images live: an object store addressed by keys like `outputs/<id>.png`. The filesystem
 * implementation is the embedded default; an S3-compatible one comes with the scale-out setup.
 */
export interface StoredObject {
  bytes: Uint8Array;
  contentType: string;
}

export interface ObjectStore {
  put(key: string, bytes: Uint8Array, contentType: string): Promise<void>;
  /** undefined when there is no such object. */
  get(key: string): Promise<StoredObject | undefined>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
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
