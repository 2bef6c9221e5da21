/** Absolute URLs for answers: DARKROOM_PUBLIC_URL when set, else the origin the request came to. */
import type { Context } from 'hono';
import type { ImageAccess } from '../core/image-access.ts';

export function baseUrl(c: Context, publicUrl: string): string {
  if (publicUrl) return publicUrl;
  const url = new URL(c.req.url);
  const proto = c.req.header('x-forwarded-proto')?.split(',')[0]?.trim();
  const host = c.req.header('x-forwarded-host')?.split(',')[0]?.trim();
  return `${proto || url.protocol.replace(':', '')}://${host || url.host}`;
}

/** A URL for a stored object, signed afresh until now + DARKROOM_SIGNED_URL_TTL (works without headers, for whoever holds it, until then). */
export function imageUrl(c: Context, publicUrl: string, access: ImageAccess, key: string): string {
  return baseUrl(c, publicUrl) + access.path(key);
}
