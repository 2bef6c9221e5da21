/**
 * Headers every answer carries (request id, CORS, rate-limit counters) set without `c.header`: any
 * `c.header` makes Hono build a fetch `Headers` for the answer, and @hono/node-server then copies it
 * out again, which costs about as much as the rest of a small route. Over a socket they go on Node's
 * response (`writeHead` merges them under the answer's own headers, which win on a clash), so the
 * handler's answer keeps the fast path; in-process (`app.request`, no Node response) through `c.header`.
 */
import type { Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';

export function answerHeader(c: Context, name: string, value: string): void {
  const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
  if (outgoing && !outgoing.headersSent) outgoing.setHeader(name, value);
  else c.header(name, value);
}
