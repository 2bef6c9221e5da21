/**
 * Reading multipart/form-data requests (Stability v2beta, OpenAI edits and variations, Leonardo's
 * presigned uploads): every field as a string or a File, a repeated field (or `name[]`) as an array.
 * A body that is not multipart is a MalformedRequestError, which each dialect words in its own way.
 */
import type { Context } from 'hono';
import { MalformedRequestError } from '../core/errors.ts';

export type FormValue = string | File;
export type Form = Record<string, FormValue | FormValue[]>;

export async function readForm(c: Context): Promise<Form> {
  const type = c.req.header('content-type') ?? '';
  if (!/^multipart\/form-data\b/i.test(type) && !/^application\/x-www-form-urlencoded\b/i.test(type)) {
    throw new MalformedRequestError(undefined, 'the request must be multipart/form-data');
  }
  let form: Record<string, FormValue | FormValue[]>;
  try {
    form = (await c.req.parseBody({ all: true })) as Record<string, FormValue | FormValue[]>;
  } catch (err) {
    throw new MalformedRequestError(undefined, `the multipart body could not be read: ${(err as Error).message}`);
  }
  const out: Form = {};
  for (const [k, v] of Object.entries(form)) {
    const name = k.endsWith('[]') ? k.slice(0, -2) : k;
    const prev = out[name];
    const values = Array.isArray(v) ? v : [v];
    out[name] = prev === undefined ? (values.length === 1 && !k.endsWith('[]') ? values[0]! : values) : [...(Array.isArray(prev) ? prev : [prev]), ...values];
  }
  return out;
}

/** The form's text fields (a File where text was expected is left out, so the schema reports it missing). */
export function textFields(form: Form, except: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(form)) {
    if (except.includes(k)) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (typeof first === 'string') out[k] = first;
  }
  return out;
}

/** The files of a field (none: an empty list). */
export function filesOf(form: Form, name: string): File[] {
  const v = form[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is File => typeof x !== 'string');
}
