/**
 * Mounting a route: its zod-openapi definition goes into the OpenAPI registry (the document is
 * generated from these), and the handler gets the request already parsed against the same
 * schemas by validation.ts, so the documented rules and the enforced rules are one and the same.
 * Aliases are mounted too and documented as deprecated. Every route's body is limited by its kind
 * (multipart routes: the upload limit; JSON and body-less routes: the JSON limit), before anything
 * else runs, so an oversized body is refused unread whoever sends it.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { OpenAPIHono, RouteConfig, z } from '@hono/zod-openapi';
import type { Env } from './env.ts';
import { limitBody } from './body-limits.ts';
import { parseWith, readJson, readQuery } from './validation.ts';

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;
type JsonBodyOf<R> = R extends { request: { body: { content: { 'application/json': { schema: infer S } } } } }
  ? R extends { request: { body: { required: true } } }
    ? Out<S>
    : Out<S> | undefined
  : undefined;
type QueryOf<R> = R extends { request: { query: infer S } } ? Out<S> : undefined;
type ParamsOf<R> = R extends { request: { params: infer S } } ? Out<S> : undefined;

export interface RouteInput<R> {
  body: JsonBodyOf<R>;
  query: QueryOf<R>;
  params: ParamsOf<R>;
}

export interface MountOptions {
  aliases?: string[];
  middleware?: MiddlewareHandler<Env>[];
}

function honoPath(path: string): string {
  return path.replace(/\{([^}]+)\}/g, ':$1');
}

export type Mount = <R extends RouteConfig>(
  route: R,
  handler: (c: Context<Env>, input: RouteInput<R>) => Promise<Response> | Response,
  options?: MountOptions,
) => void;

/**
 * A mount function for `app`: routes whose definition has a non-empty `security` get `auth`
 * before anything else, so a route is authenticated exactly when its document says so.
 */
export function mounter(app: OpenAPIHono<Env>, auth: MiddlewareHandler<Env>): Mount {
  return (route, handler, options) => mount(app, route, handler, { ...options, auth: route.security?.length ? auth : undefined });
}

export function mount<R extends RouteConfig>(
  app: OpenAPIHono<Env>,
  route: R,
  handler: (c: Context<Env>, input: RouteInput<R>) => Promise<Response> | Response,
  options: MountOptions & { auth?: MiddlewareHandler<Env> } = {},
): void {
  const request = route.request;
  const jsonMedia = request?.body && 'content' in request.body ? request.body.content['application/json'] : undefined;
  const jsonSchema = (jsonMedia && 'schema' in jsonMedia ? jsonMedia.schema : undefined) as z.ZodType | undefined;
  const querySchema = request?.query as z.ZodType | undefined;
  const paramsSchema = request?.params as z.ZodType | undefined;
  const bodyRequired = request?.body?.required === true;
  const multipart = request?.body && 'content' in request.body && 'multipart/form-data' in request.body.content;
  const limit = limitBody(multipart ? 'multipart' : 'json');
  const run = async (c: Context<Env>) => {
    const raw = jsonSchema ? await readJson(c, bodyRequired) : undefined;
    const input = {
      body: jsonSchema && raw !== undefined ? parseWith(jsonSchema, raw) : undefined,
      query: querySchema ? parseWith(querySchema, readQuery(c)) : undefined,
      params: paramsSchema ? parseWith(paramsSchema, c.req.param()) : undefined,
    } as RouteInput<R>;
    return handler(c, input);
  };
  const auth = options.auth;
  // One handler for both: a dialect's app wraps each of its handlers again in its error handler
  // when it is mounted, so each layer saved is a wrapper saved. Neither does anything after
  // `next()`, so an error thrown by the key check reaches the same error handler as before.
  const guard: MiddlewareHandler<Env> = auth
    ? (c, next) =>
        limit(c, async () => {
          const answer = await auth(c, next);
          if (answer) c.res = answer;
        })
    : limit;
  const paths = [route.path, ...(options.aliases ?? [])];
  for (const [i, path] of paths.entries()) {
    const doc = i === 0 ? route : { ...route, path, deprecated: true, operationId: route.operationId ? `${route.operationId}_alias${i}` : undefined };
    app.openAPIRegistry.registerPath(doc);
    app.on([route.method.toUpperCase()], [honoPath(path)], guard, ...(options.middleware ?? []), run);
  }
}
