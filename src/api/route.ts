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
import { bodyLimits, DEFAULT_BODY_LIMITS, limitBody, type BodyLimits } from './body-limits.ts';
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
  /** Run after the body limit and the key check, before the handler (e.g. `idempotent`). */
  middleware?: MiddlewareHandler<Env>[];
}

/** What every route of a mounter shares: its key check (for routes whose document asks for one) and the body limits. */
interface MountBase {
  /** Calls `next` or throws; never answers itself. */
  auth?: MiddlewareHandler<Env>;
  /** Default DEFAULT_BODY_LIMITS. */
  limits?: BodyLimits;
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
 * before anything else, so a route is authenticated exactly when its document says so; every
 * route's body is held to `limits` (unset ones: the defaults).
 */
export function mounter(app: OpenAPIHono<Env>, auth: MiddlewareHandler<Env>, limits: Partial<BodyLimits> | undefined): Mount {
  const base = { limits: bodyLimits(limits) };
  return (route, handler, options) => mount(app, route, handler, { ...options, ...base, auth: route.security?.length ? auth : undefined });
}

export function mount<R extends RouteConfig>(
  app: OpenAPIHono<Env>,
  route: R,
  handler: (c: Context<Env>, input: RouteInput<R>) => Promise<Response> | Response,
  options: MountOptions & MountBase = {},
): void {
  const request = route.request;
  const jsonMedia = request?.body && 'content' in request.body ? request.body.content['application/json'] : undefined;
  const jsonSchema = (jsonMedia && 'schema' in jsonMedia ? jsonMedia.schema : undefined) as z.ZodType | undefined;
  const querySchema = request?.query as z.ZodType | undefined;
  const paramsSchema = request?.params as z.ZodType | undefined;
  const bodyRequired = request?.body?.required === true;
  const multipart = request?.body && 'content' in request.body && 'multipart/form-data' in request.body.content;
  const limit = limitBody(multipart ? 'multipart' : 'json', options.limits ?? DEFAULT_BODY_LIMITS);
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
  const middleware = options.middleware ?? [];
  // Body limit, key check and handler in one Hono handler for a route with no middleware of its own:
  // Hono runs each handler of a route as one more layer of async calls, and a dialect's app wraps
  // each again in its error handler when it is mounted (docs/benchmarks.md, "Fourth round"). Neither
  // the limit nor the key check does anything after `next()`, so an error thrown by either reaches
  // the same error handler as before.
  const guard: MiddlewareHandler<Env> = auth ? (c, next) => limit(c, () => auth(c, next) as Promise<void>) : limit;
  const handlers: MiddlewareHandler<Env>[] = middleware.length
    ? [guard, ...middleware, run]
    : [
        async (c) => {
          let answer: Response | undefined;
          await guard(c, async () => {
            answer = await run(c);
          });
          return answer!;
        },
      ];
  const paths = [route.path, ...(options.aliases ?? [])];
  for (const [i, path] of paths.entries()) {
    const doc = i === 0 ? route : { ...route, path, deprecated: true, operationId: route.operationId ? `${route.operationId}_alias${i}` : undefined };
    app.openAPIRegistry.registerPath(doc);
    app.on([route.method.toUpperCase()], [honoPath(path)], ...handlers);
  }
}
