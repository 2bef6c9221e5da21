/**
 * Prometheus metrics (prom-client), served at /metrics by every role. One registry per process
 * (`processMetrics()`), every name prefixed `darkroom_`, Node's default process metrics included.
 *
 * Fed by: the HTTP middleware (`httpRequest`), the job side (`jobFinished`, `step`, `images`,
 * `credits`) and two callbacks asked at each scrape (`setQueueDepth`, `jobsByState`), so counts
 * that live in the queue or the database are read when wanted, not kept in step by hand.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const METRICS_PREFIX = 'darkroom_';

/** Jobs waiting and running in the queue (more states, e.g. `delayed`, may be added). */
export type QueueDepth = { waiting: number; running: number } & Record<string, number>;
/** One row of "jobs by state": what a `GROUP BY kind, status` over the job tables gives. */
export interface JobStateCount {
  kind: string;
  state: string;
  count: number;
}
type Source<T> = () => T | Promise<T>;

export interface MetricsOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC); default true. */
  defaultMetrics?: boolean;
  /** Told when a scrape-time callback fails (its gauge is then empty for that scrape). */
  onCollectError?: (metric: string, err: unknown) => void;
}

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export class Metrics {
  readonly registry = new Registry();
  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  private readonly jobDuration: Histogram<'kind' | 'status'>;
  private readonly stepDuration: Histogram;
  private readonly imagesGenerated: Counter;
  private readonly creditsDebited: Counter;
  private readonly creditsRefunded: Counter;
  private queueDepthSource?: Source<QueueDepth>;
  private jobStateSource?: Source<readonly JobStateCount[]>;
  /** Told when a scrape-time callback fails (its gauge is then empty for that scrape); settable later, e.g. to log. */
  onCollectError: (metric: string, err: unknown) => void;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    const p = METRICS_PREFIX;
    this.onCollectError = options.onCollectError ?? (() => undefined);
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: p });

    const httpDuration = (this.httpDuration = new Histogram({
      name: `${p}http_request_duration_seconds`,
      help: 'Seconds from a request arriving to its answer starting (synchronous generations wait for their images).',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 240],
      registers,
    }));
    // The request counter is the histogram's count, read off it at each scrape rather than counted
    // again on every request (a second label lookup: about half of the 1.5 µs the two took together
    // in a loop).
    const countName = `${p}http_request_duration_seconds_count`;
    new Counter({
      name: `${p}http_requests_total`,
      help: 'HTTP requests answered, by method, matched route pattern and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
      async collect() {
        this.reset();
        for (const v of (await httpDuration.get()).values) if (v.metricName === countName) this.inc(v.labels, v.value);
      },
    });
    this.jobDuration = new Histogram({
      name: `${p}job_duration_seconds`,
      help: 'Seconds a job (generation, upscale) took in its worker, from claim to finish, by kind and final status.',
      labelNames: ['kind', 'status'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 240, 600],
      registers,
    });
    this.stepDuration = new Histogram({
      name: `${p}denoising_step_duration_seconds`,
      help: 'Seconds one denoising step (one UNet run over a batch) took.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers,
    });
    this.imagesGenerated = new Counter({ name: `${p}images_generated_total`, help: 'Images made and stored (rate() of it: images per second).', registers });
    this.creditsDebited = new Counter({ name: `${p}credits_debited_total`, help: 'Credits taken for accepted requests.', registers });
    this.creditsRefunded = new Counter({ name: `${p}credits_refunded_total`, help: 'Credits given back for images that failed.', registers });

    const self = this;
    new Gauge({
      name: `${p}queue_jobs`,
      help: 'Jobs in the queue now, by state (waiting, running, ...), asked of the queue at each scrape.',
      labelNames: ['state'],
      registers,
      async collect() {
        if (!self.queueDepthSource) return;
        this.reset();
        try {
          for (const [state, n] of Object.entries(await self.queueDepthSource())) this.set({ state }, n);
        } catch (err) {
          self.onCollectError(`${p}queue_jobs`, err);
        }
      },
    });
    new Gauge({
      name: `${p}jobs`,
      help: 'Jobs recorded in the database now, by kind and state, read at each scrape.',
      labelNames: ['kind', 'state'],
      registers,
      async collect() {
        if (!self.jobStateSource) return;
        this.reset();
        try {
          for (const row of await self.jobStateSource()) this.set({ kind: row.kind, state: row.state }, row.count);
        } catch (err) {
          self.onCollectError(`${p}jobs`, err);
        }
      },
    });
  }

  /** One answered HTTP request; `route` is the matched pattern (`/v1/image/:id`), never the raw path. */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method: HTTP_METHODS.has(method) ? method : 'OTHER', route, status: String(status) };
    this.httpDuration.observe(labels, seconds);
  }

  /** A job reached its final status (`succeeded`, `failed`, `cancelled`, ...) after `seconds` in its worker. */
  jobFinished(kind: string, status: string, seconds: number): void {
    this.jobDuration.observe({ kind, status }, seconds);
  }

  /** One denoising step took `seconds`. */
  step(seconds: number): void {
    this.stepDuration.observe(seconds);
  }

  /** `n` images were made and stored. */
  images(n: number): void {
    if (n > 0) this.imagesGenerated.inc(n);
  }

  /** `n` credits were debited (a request accepted) or refunded (images that failed). */
  credits(direction: 'debited' | 'refunded', n: number): void {
    if (n <= 0) return;
    (direction === 'debited' ? this.creditsDebited : this.creditsRefunded).inc(n);
  }

  /** The callback asked for the queue's counts at each scrape (the last one set wins). */
  setQueueDepth(source: Source<QueueDepth>): void {
    this.queueDepthSource = source;
  }

  /** The callback asked for the jobs by kind and state at each scrape (the last one set wins). */
  jobsByState(source: Source<readonly JobStateCount[]>): void {
    this.jobStateSource = source;
  }

  /** The exposition text and its content type, as /metrics serves them. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

let shared: Metrics | undefined;

/** The process's one Metrics (made on first use): what the API, the embedded worker and a worker process all feed. */
export function processMetrics(): Metrics {
  return (shared ??= new Metrics());
}
