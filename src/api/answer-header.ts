/**
 * Headers every answer carries (request id, CORS, rate-limit counters), set without `c.header`: any
 * `c.header` makes Hono build a fetch `Headers` for the answer, and @hono/node-server then copies it
 * out again, which costs about as much as the rest of a small route. Over a socket they wait on the
 * server's Node response (`AnswerResponse`) and join the answer's own headers in `writeHead`, so the
 * handler's answer keeps the fast path; in-process (`app.request`, no Node response) through `c.header`.
 */
import { ServerResponse, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';
import type { Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';

type Headers = OutgoingHttpHeaders | OutgoingHttpHeader[];

export function answerHeader(c: Context, name: string, value: string): void {
  const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
  if (outgoing instanceof AnswerResponse && !outgoing.headersSent) outgoing.answerHeader(name, value);
  else c.header(name, value);
}

/**
 * Node's response, holding the answer headers as a plain object until `writeHead`. Set one by one
 * with `setHeader`, they would also make `writeHead` take Node's slow path (every header of the
 * answer validated and stored once more before being written). With the request id and CORS on
 * every answer, the headers set that way cost about a tenth of an authenticated `GET /v1/credits`
 * (docs/benchmarks.md, "Fifth round"). The answer's own headers win on a clash, whatever their case.
 */
export class AnswerResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  #extra: Record<string, string> | undefined;

  answerHeader(name: string, value: string): void {
    (this.#extra ??= {})[name] = value;
  }

  override writeHead(statusCode: number, reason?: string | Headers, headers?: Headers): this {
    const extra = this.#extra;
    this.#extra = undefined;
    let own = typeof reason === 'string' ? headers : (reason ?? headers);
    if (extra) {
      // Raw pairs: Node sets them over these one by one, so the answer's still win.
      if (Array.isArray(own)) for (const name in extra) this.setHeader(name, extra[name]!);
      else own = own ? merged(extra, own) : extra;
    }
    return typeof reason === 'string' ? super.writeHead(statusCode, reason, own) : super.writeHead(statusCode, own);
  }
}

function merged(extra: Record<string, string>, own: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in extra) if (!named(own, name)) out[name] = extra[name];
  return Object.assign(out, own);
}

/** Whether `headers` has `name` in any case: a loop, not a Set, as both hold a few names. */
function named(headers: OutgoingHttpHeaders, name: string): boolean {
  let lower: string | undefined;
  for (const given in headers) if (given.length === name.length && given.toLowerCase() === (lower ??= name.toLowerCase())) return true;
  return false;
}

/** What `serve()` needs for its server to make AnswerResponses. */
export const answerServerOptions = { ServerResponse: AnswerResponse } as const;
