/**
 * Reading requests against the route schemas, turning every problem into the core's errors: a
 * body that is not JSON, or a value of the wrong type, is a MalformedRequestError; a value out of
 * bounds is a ValidationError naming the field, with the schema's own message (each dialect writes
 * its schemas' messages in its own words). Zod's default error hook is never used.
 */
import type { Context } from 'hono';
import type { z } from '@hono/zod-openapi';
import { MalformedRequestError, UnsupportedMediaTypeError, ValidationError } from '../core/errors.ts';

export function issuesToError(issues: readonly z.core.$ZodIssue[], data: unknown): ValidationError {
  const first = issues[0]!;
  const field = first.path.map(String).join('.') || undefined;
  const all = issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
  const top = first.path[0];
  const given = top !== undefined && data && typeof data === 'object' ? (data as Record<PropertyKey, unknown>)[top as PropertyKey] : undefined;
  if (first.code === 'invalid_type' && given !== undefined) {
    const err = new MalformedRequestError(field, first.message);
    err.detail = all;
    return err;
  }
  const err = new ValidationError(field ?? '', first.message);
  err.detail = all;
  return err;
}

export function parseWith<S extends z.ZodType>(schema: S, data: unknown): z.output<S> {
  const r = schema.safeParse(data);
  if (!r.success) throw issuesToError(r.error.issues, data);
  return r.data;
}

/** JSON media types: application/json and application/<anything>+json, with parameters. */
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * The JSON body. A body sent as another media type (text/plain, a form) is refused unread with an
 * UnsupportedMediaTypeError (415); no Content-Type at all is read as JSON.
 */
export async function readJson(c: Context, required = true): Promise<unknown> {
  const type = c.req.header('content-type');
  // Whether a body was sent, from the headers (touching the body stream here would keep the server
  // from discarding it after the refusal, and the client's next request on the connection would fail).
  const hasBody = c.req.header('transfer-encoding') !== undefined || Number(c.req.header('content-length') ?? 0) > 0;
  if (type !== undefined && type.trim() !== '' && !JSON_TYPE.test(type.trim()) && hasBody) {
    throw new UnsupportedMediaTypeError(type, 'a JSON body with Content-Type: application/json');
  }
  const text = await c.req.text();
  if (text.trim() === '' && !required) return undefined;
  if (text.trim() === '') throw new MalformedRequestError(undefined, 'the request body is empty; send a JSON object');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MalformedRequestError(undefined, `the request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Query parameters as an object (a repeated parameter keeps its last value). */
export function readQuery(c: Context): Record<string, string> {
  return c.req.query();
}
