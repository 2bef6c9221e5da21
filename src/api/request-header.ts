/**
 * A request header by its lower-case name, for the few that every request asks for (request id,
 * key, body length). Over a socket it is one property of Node's own parsed headers, where
 * `c.req.header` goes through @hono/node-server's fetch-style Headers, which checks the name,
 * lowers it and normalises the value again on every call (about 0.3 µs each here). Node joins a
 * repeated header with ", " as fetch does, and keeps the first of those HTTP allows only once.
 * In-process (`app.request`, no Node request) through `c.req.header`.
 */
import type { Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';

export function requestHeader(c: Context, lowerName: string): string | undefined {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  if (!incoming) return c.req.header(lowerName);
  const value = incoming.headers[lowerName];
  return typeof value === 'string' ? value : undefined;
}
