/**
 * What operators and orchestrators ask of every role: `/healthz` (the process answers), `/readyz`
 * (its dependencies answer: database, Redis, store; a worker: its model loaded) and `/metrics`
 * (Prometheus). Outside every dialect's auth and rate limit. The API mounts them on its app
 * (`registerOps`); a worker, which has no API, serves them alone on a health port
 * (`startHealthServer`). `observeRequests` is the middleware that gives each request its id, its
 * log line and its HTTP metrics.
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import type { Database } from '../db/database.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import type { Logger } from '../observability/logger.ts';
import { processMetrics, type Metrics } from '../observability/metrics.ts';
import type { Env } from './env.ts';
import { answerHeader, answerServerOptions } from './answer-header.ts';
import { bodyLimits, type BodyLimits } from './body-limits.ts';
import { mount } from './route.ts';
import { requestHeader } from './request-header.ts';

/** One dependency `/readyz` asks about. It passes when `check` resolves, fails when it throws or outlasts its timeout. */
export interface ReadinessCheck {
  name: string;
  /** `signal` aborts when the timeout is reached (for checks that can stop early). */
  check: (signal: AbortSignal) => unknown;
  /** Default 2000 ms. */
  timeoutMs?: number;
}

export interface CheckResult {
  status: 'ok' | 'failed' | 'timeout';
  ms: number;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, CheckResult>;
  /** The names of the checks that did not pass. */
  failed: string[];
}

export const DEFAULT_CHECK_TIMEOUT_MS = 2000;

/** The database answers a trivial query. */
export function databaseCheck(db: Pick<Database, 'kysely'>, timeoutMs?: number): ReadinessCheck {
  return { name: 'database', timeoutMs, check: () => sql`select 1`.execute(db.kysely) };
}

/** The object store (local disk or S3) answers. */
export function storeCheck(store: Pick<ObjectStore, 'check'>, timeoutMs?: number): ReadinessCheck {
  return { name: 'store', timeoutMs, check: () => store.check() };
}

/** Redis answers a PING (an ioredis client, or anything with `ping()`). */
export function redisCheck(redis: { ping(): Promise<unknown> }, timeoutMs?: number): ReadinessCheck {
  return { name: 'redis', timeoutMs, check: () => redis.ping() };
}

/** Runs every check at once, each under its own timeout; why one failed goes to the log, not to the (public) answer. */
export async function runChecks(checks: readonly ReadinessCheck[], logger?: Logger): Promise<Readiness> {
  const results = await Promise.all(
    checks.map(async (c): Promise<[string, CheckResult]> => {
      const started = performance.now();
      const timeoutMs = c.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
      const abort = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => {
          abort.abort(new Error(`timed out after ${timeoutMs} ms`));
          resolve('timeout');
        }, timeoutMs);
      });
      let status: CheckResult['status'];
      try {
        const outcome = await Promise.race([Promise.resolve().then(() => c.check(abort.signal)), timedOut]);
        status = outcome === 'timeout' && abort.signal.aborted ? 'timeout' : 'ok';
      } catch (err) {
        status = 'failed';
        logger?.warn({ check: c.name, err: err instanceof Error ? err.message : String(err) }, 'readiness check failed');
      } finally {
        clearTimeout(timer);
      }
      if (status === 'timeout') logger?.warn({ check: c.name, timeoutMs }, 'readiness check timed out');
      return [c.name, { status, ms: Math.round((performance.now() - started) * 10) / 10 }];
    }),
  );
  const failed = results.filter(([, r]) => r.status !== 'ok').map(([name]) => name);
  return { ready: failed.length === 0, checks: Object.fromEntries(results), failed };
}

/** An incoming X-Request-Id is kept when it is this tame (it goes into logs and headers); otherwise a new one is made. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;
const OPS_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** The matched route pattern of the handler that answered; `unmatched` for a 404 nobody routed (never the raw path). */
function routeLabel(c: Parameters<MiddlewareHandler<Env>>[0]): string {
  const answered = matchedRoutes(c)[c.req.routeIndex];
  // Middleware (app.use) is registered for every method: it answering a 404 means no route matched.
  if (!answered || (answered.method === 'ALL' && c.res.status === 404)) return 'unmatched';
  return answered.path;
}

/**
 * First middleware of an app: the request id (an incoming sane X-Request-Id, else a new UUID) on the
 * context and the X-Request-Id answer header, then one log line carrying it and the HTTP metrics
 * once the answer is known. Probes (/healthz, /readyz, /metrics) log at debug. No logger is made per
 * request, since few routes log anything of their own: code that logs about the request asks
 * `requestLog(c)` for one. `then` (the API's CORS) runs inside it rather than as a middleware of its
 * own, one layer of Hono's async calls fewer (docs/benchmarks.md, "Fourth round").
 */
export function observeRequests(options: {
  metrics: Metrics;
  logger: Logger;
  then?: (c: Context<Env>, next: () => Promise<void>) => Promise<Response | void>;
}): MiddlewareHandler<Env> {
  const { metrics, logger, then } = options;
  // The request line's method and route as a child's bindings, serialised once per route: pino
  // writes each field of a line's own object anew, a few tenths of a µs each. Bounded: routes are
  // patterns ('unmatched' for the rest) and Node's parser takes only the methods it knows.
  const routeLoggers = new Map<string, Logger>();
  const routeLogger = (method: string, route: string): Logger => {
    const key = `${method} ${route}`;
    let child = routeLoggers.get(key);
    if (!child) routeLoggers.set(key, (child = logger.child({ method, route })));
    return child;
  };
  return async function observe(c, next) {
    const started = performance.now();
    const incoming = requestHeader(c, 'x-request-id');
    const requestId = incoming && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    c.set('requestId', requestId);
    c.set('logger', logger);
    answerHeader(c, 'X-Request-Id', requestId);
    if (then) {
      const answer = await then(c, next);
      // As Hono does with a middleware's result: an answer of its own (a preflight) when nothing has answered yet.
      if (answer && !c.finalized) c.res = answer;
    } else {
      await next();
    }
    const seconds = (performance.now() - started) / 1000;
    const route = routeLabel(c);
    const status = c.res.status;
    metrics.httpRequest(c.req.method, route, status, seconds);
    const level = OPS_PATHS.has(route) ? 'debug' : status >= 500 ? 'error' : 'info';
    routeLogger(c.req.method, route)[level]({ requestId, path: c.req.path, status, ms: Math.round(seconds * 10_000) / 10 }, 'request');
  };
}

/** The app's logger with this request's id on every line (made on demand). */
export function requestLog(c: Context<Env>): Logger {
  return c.get('logger').child({ requestId: c.get('requestId') });
}

const CheckResultSchema = z
  .object({ status: z.enum(['ok', 'failed', 'timeout']), ms: z.number().openapi({ description: 'How long the check took.' }) })
  .openapi('ReadinessCheck');
const ReadinessSchema = z
  .object({
    status: z.enum(['ok', 'unavailable']),
    checks: z.record(z.string(), CheckResultSchema).openapi({ description: 'Each dependency by name (database, redis, store, model, ...).' }),
    failed: z.array(z.string()).openapi({ description: 'The names of the checks that did not pass; why goes to the server log.' }),
  })
  .openapi('Readiness');

export interface OpsOptions {
  checks?: readonly ReadinessCheck[];
  metrics: Metrics;
  logger?: Logger;
  /** Body limits for these routes, as for every other (unset ones: the defaults). */
  limits?: Partial<BodyLimits>;
}

/** /healthz, /readyz and /metrics on `app`, documented in its OpenAPI registry; no auth, no rate limit. */
export function registerOps(app: OpenAPIHono<Env>, options: OpsOptions): void {
  const checks = options.checks ?? [];
  const limits = { limits: bodyLimits(options.limits) };
  mount(
    app,
    createRoute({
      method: 'get',
      path: '/healthz',
      operationId: 'healthz',
      tags: ['Server'],
      summary: 'Liveness',
      description: 'Answers while the process is alive; asks nothing of its dependencies (that is /readyz).',
      responses: { 200: { description: 'Alive.', content: { 'application/json': { schema: z.object({ status: z.literal('ok') }).openapi('Liveness') } } } },
    }),
    (c) => c.json({ status: 'ok' as const }, 200),
    limits,
  );
  mount(
    app,
    createRoute({
      method: 'get',
      path: '/readyz',
      operationId: 'readyz',
      tags: ['Server'],
      summary: 'Readiness',
      description:
        'Asks each dependency (the database; with scale-out also Redis and the object store; on a worker, its model) under a short timeout. ' +
        '200 when all answer, 503 naming the ones that did not: a load balancer sends no traffic to this process meanwhile.',
      responses: {
        200: { description: 'Every check passed.', content: { 'application/json': { schema: ReadinessSchema } } },
        503: { description: 'Some check failed or timed out (named in `failed`).', content: { 'application/json': { schema: ReadinessSchema } } },
      },
    }),
    async (c) => {
      const r = await runChecks(checks, c.get('logger') ? requestLog(c) : options.logger);
      const body = { status: r.ready ? ('ok' as const) : ('unavailable' as const), checks: r.checks, failed: r.failed };
      return r.ready ? c.json(body, 200) : c.json(body, 503);
    },
    limits,
  );
  mount(
    app,
    createRoute({
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      tags: ['Server'],
      summary: 'Prometheus metrics',
      description:
        'The Prometheus text format, every name prefixed `darkroom_`: HTTP requests by route and status, queue depth, jobs by state, ' +
        'job and denoising-step seconds, images generated, credits debited and refunded, and the process (CPU, memory, event loop).',
      responses: { 200: { description: 'Prometheus text exposition format 0.0.4.', content: { 'text/plain': { schema: z.string() } } } },
    }),
    async (c) => {
      const { contentType, body } = await options.metrics.render();
      return c.body(body, 200, { 'Content-Type': contentType });
    },
    limits,
  );
}

export interface HealthServerOptions {
  port: number;
  /** Default 0.0.0.0. */
  host?: string;
  checks?: readonly ReadinessCheck[];
  /** Default the process's metrics. */
  metrics?: Metrics;
  logger: Logger;
}

export interface HealthServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** /healthz, /readyz and /metrics alone on their own port: for a process with no API (`darkroom worker`). */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const metrics = options.metrics ?? processMetrics();
  const app = new OpenAPIHono<Env>();
  app.use('*', observeRequests({ metrics, logger: options.logger }));
  registerOps(app, { checks: options.checks, metrics, logger: options.logger });
  app.notFound((c) => c.json({ error: 'not_found', description: `no route ${c.req.method} ${c.req.path}; this port serves /healthz, /readyz, /metrics` }, 404));
  const host = options.host ?? '0.0.0.0';
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: options.port, hostname: host, serverOptions: answerServerOptions }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host === '0.0.0.0' || host === '::' ? 'localhost' : host}:${port}`,
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      })),
  };
}
