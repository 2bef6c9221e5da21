/**
 * Reading requests against the route schemas, turning every problem into the core's errors: a
 * body that is not JSON, or a value of the wrong type, is a MalformedRequestError; a value out of
 * bounds is a ValidationError naming the field, with the schema's own message (each dialect writes
 * its schemas' messages in its own words). Zod's default error hook is never used.
 */
import type { Context } from 'hono';
import type { z } from '@hono/zod-openapi';
import { MalformedRequestError, ValidationError } from '../core/errors.ts';

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

/** The JSON body, whatever Content-Type the client sent (as Stablecog's server reads it). */
export async function readJson(c: Context, required = true): Promise<unknown> {
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
