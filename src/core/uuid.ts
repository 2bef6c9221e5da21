/** Name-based UUIDs (RFC 9562 version 5, SHA-1): stable ids for things that have a name, not a row. */
import { createHash } from 'node:crypto';

/** Darkroom's namespace: every model and scheduler id it mints is a v5 UUID under this. */
export const DARKROOM_NAMESPACE = '5b0f7f2e-8c1d-4f57-9a36-2f0b8e6c9d41';

export function uuidV5(name: string, namespace: string = DARKROOM_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) throw new Error(`namespace is not a UUID: ${namespace}`);
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  const b = hash.subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID_PATTERN.test(s);
}
