/**
 * Scale-out figures for docs/scale-out.md. Prints three tables; every figure is a ratio against a
 * reference measured in the same run (absolute numbers depend on the machine):
 *
 *   queue     the queue's own overhead per job: queue.add → the handler publishes the job's end →
 *             the subscriber hears it, with a handler that does nothing else (a stand-in for an
 *             instant engine). In-process backend (the reference) vs Redis (BullMQ + pub/sub, a
 *             real redis-server; producer and consumer on separate backends/connections, as an API
 *             process and a worker are). One job at a time (latency), then many at once (jobs/s).
 *   workers   jobs/s with 1..4 real `darkroom worker` processes (tiny-sd1 test model, 64x64),
 *             requests sent through one `darkroom serve --no-worker` over Postgres, Redis and S3
 *             (s3rver), all started by test/helpers/cluster.ts. Reference: 1 worker.
 *   api       requests/s of one vs two `serve --no-worker` processes on GET /v1/credits (an
 *             authenticated route: key lookup + ledger read), a bounded loop of concurrent fetches.
 *             Reference: one API process.
 *
 *   node --import tsx tools/bench/scale.ts [queue] [workers] [api]   (default: all three)
 *
 * Sizes (environment): SCALE_QUEUE_JOBS (1000), SCALE_QUEUE_CONCURRENCY (32), SCALE_JOBS (64 per
 * step), SCALE_MAX_WORKERS (4), SCALE_WORKER_THREADS (1: ONNX Runtime threads per worker process),
 * SCALE_STEPS (10), SCALE_API_REQUESTS (4000), SCALE_API_CONCURRENCY (32). Needs Debian's
 * redis-server and postgresql, as the scaled test suites do. A benchmark, not a test: it asserts
 * nothing beyond every request succeeding.
 */
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { openQueueBackend, type QueueBackend } from '../../src/queue/backend.ts';
import { jobChannel, type JobEvent } from '../../src/queue/types.ts';
import { RedisServer } from '../../test/helpers/redis.ts';
import { startCluster, type Cluster } from '../../test/helpers/cluster.ts';

const env = (name: string, fallback: number) => {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : Number(v);
};

const QUEUE_JOBS = env('SCALE_QUEUE_JOBS', 1000);
const QUEUE_CONCURRENCY = env('SCALE_QUEUE_CONCURRENCY', 32);
const JOBS = env('SCALE_JOBS', 64);
const MAX_WORKERS = env('SCALE_MAX_WORKERS', 4);
const WORKER_THREADS = env('SCALE_WORKER_THREADS', 1);
const STEPS = env('SCALE_STEPS', 10);
const API_REQUESTS = env('SCALE_API_REQUESTS', 4000);
const API_CONCURRENCY = env('SCALE_API_CONCURRENCY', 32);

const fmt = (n: number, digits = 2) => n.toFixed(digits);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `task(i)` for i < n with at most `concurrency` at once; resolves when all are done. */
async function bounded(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// (a) the queue's own overhead

interface QueueFigures {
  backend: string;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  jobsPerSecond: number;
}

async function queueFigures(name: string, producer: QueueBackend, consumer: QueueBackend): Promise<QueueFigures> {
  const queueName = `bench-${randomUUID().slice(0, 8)}`;
  const produce = producer.queue(queueName);
  const consume = consumer.queue(queueName);
  // The stand-in engine: nothing but publishing the end, as a worker does when a job is done.
  consume.process(
    async (job) => {
      const id = job.type === 'generate' ? job.generationId : job.upscaleId;
      consumer.events.publish(jobChannel(id), { type: 'status', id, kind: 'generate', status: 'succeeded', at: new Date().toISOString() });
    },
    { concurrency: QUEUE_CONCURRENCY },
  );

  /** add → end event; the subscription is live before the clock starts (the API subscribes before it records the job). */
  const roundTrip = async (): Promise<number> => {
    const id = randomUUID();
    let heard: (e: JobEvent) => void = () => undefined;
    const ended = new Promise<JobEvent>((resolve) => (heard = resolve));
    const unsubscribe = producer.events.subscribe(jobChannel(id), (e) => heard(e));
    await unsubscribe.ready;
    const started = performance.now();
    await produce.add({ id, type: 'generate', generationId: id });
    await ended;
    const ms = performance.now() - started;
    unsubscribe();
    return ms;
  };

  for (let i = 0; i < 50; i++) await roundTrip(); // warm-up: connections, JIT
  const latencies: number[] = [];
  for (let i = 0; i < QUEUE_JOBS; i++) latencies.push(await roundTrip());
  latencies.sort((a, b) => a - b);

  const started = performance.now();
  await bounded(QUEUE_JOBS, QUEUE_CONCURRENCY, async () => {
    await roundTrip();
  });
  const seconds = (performance.now() - started) / 1000;

  return {
    backend: name,
    meanMs: latencies.reduce((s, x) => s + x, 0) / latencies.length,
    p50Ms: percentile(latencies, 50),
    p95Ms: percentile(latencies, 95),
    jobsPerSecond: QUEUE_JOBS / seconds,
  };
}

async function benchQueue(): Promise<string> {
  const inProcess = await openQueueBackend({ redisUrl: '', rateLimit: 0 });
  const local = await queueFigures('in-process', inProcess, inProcess);
  await inProcess.close();

  const redis = (queueRedis = await RedisServer.start());
  const prefix = `bench${process.pid}`;
  // An API process and a worker: each its own backend, so its own connections.
  const api = await openQueueBackend({ redisUrl: redis.url, rateLimit: 0 }, () => undefined, { prefix });
  const worker = await openQueueBackend({ redisUrl: redis.url, rateLimit: 0 }, () => undefined, { prefix });
  let viaRedis: QueueFigures;
  try {
    viaRedis = await queueFigures('Redis (BullMQ + pub/sub)', api, worker);
  } finally {
    await worker.close();
    await api.close();
    await redis.stop();
    queueRedis = undefined;
  }
  const rows = [local, viaRedis].map((f) => [
    f.backend,
    fmt(f.meanMs, 3),
    fmt(f.p50Ms, 3),
    fmt(f.p95Ms, 3),
    fmt(f.meanMs / local.meanMs, 1) + 'x',
    '+' + fmt(f.meanMs - local.meanMs, 3),
    fmt(f.jobsPerSecond, 0),
    fmt(f.jobsPerSecond / local.jobsPerSecond, 2) + 'x',
  ]);
  return [
    `queue overhead per job (add → end event heard; ${QUEUE_JOBS} jobs one at a time, then ${QUEUE_JOBS} with ${QUEUE_CONCURRENCY} in flight)`,
    table(['backend', 'mean ms', 'p50 ms', 'p95 ms', 'vs in-process', 'added ms', `jobs/s (${QUEUE_CONCURRENCY} in flight)`, 'vs in-process'], rows),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Cluster helpers for (b) and (c)

/** The cluster running now: stopped (Postgres, Redis, s3rver, the darkroom processes) on Ctrl-C too. */
let active: Cluster | undefined;
/** The queue part's redis-server, while it runs. */
let queueRedis: RedisServer | undefined;
let stopping = false;
const closings = new WeakMap<Cluster, Promise<void>>();
/** Cluster.close once, whoever asks first (the part's `finally`, or a signal). */
function stopCluster(cluster: Cluster): Promise<void> {
  let closing = closings.get(cluster);
  if (!closing) closings.set(cluster, (closing = cluster.close()));
  return closing;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopping = true;
    process.stderr.write(`${signal}: stopping the cluster\n`);
    void Promise.allSettled([active && stopCluster(active), queueRedis?.stop()]).finally(() => process.exit(130));
  });
}

async function benchUser(cluster: Cluster, credits: number): Promise<string> {
  const { accounts, credits: ledger } = cluster.admin.services;
  const user = await accounts.createUser(`bench-${randomUUID().slice(0, 8)}`);
  await ledger.grant(user.id, credits);
  return (await accounts.createKey(user.id)).secret;
}

async function call(base: string, key: string, path: string, body?: unknown): Promise<void> {
  const r = await fetch(base + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${path} on ${base}: ${r.status} ${text.slice(0, 300)}`);
}

// ---------------------------------------------------------------------------------------------
// (b) jobs/s with 1..4 worker processes

async function benchWorkers(): Promise<string> {
  const clusterEnv = { DARKROOM_MAX_IN_FLIGHT: '1000', DARKROOM_MAX_QUEUED: '1000', DARKROOM_THREADS: String(WORKER_THREADS), DARKROOM_JOB_LEASE: '30' };
  const cluster = (active = await startCluster({ workers: 1, apis: 1, env: clusterEnv }));
  try {
    const key = await benchUser(cluster, 1_000_000);
    const base = cluster.apis[0]!.url;
    const body = (i: number) => ({ prompt: `bench ${i}`, num_outputs: 1, inference_steps: STEPS, seed: i });
    const generate = (i: number) => call(base, key, '/v1/image/generation/create', body(i));
    const rows: string[][] = [];
    let reference = 0;
    for (let workers = 1; workers <= MAX_WORKERS; workers++) {
      if (workers > 1) await cluster.startWorker();
      // Size: the model's default (tiny-sd1: 64x64; Stablecog's own minimum, 256, applies only to sizes given).
    // Warm-up: every worker has run a job (model sessions made, connections open).
      await bounded(workers * 3, workers * 3, generate);
      const started = performance.now();
      // Enough requests in flight that no worker waits for work: twice the workers.
      await bounded(JOBS, Math.max(4, workers * 2), (i) => generate(1000 * workers + i));
      const seconds = (performance.now() - started) / 1000;
      const jobsPerSecond = JOBS / seconds;
      reference ||= jobsPerSecond;
      rows.push([String(workers), fmt(seconds, 2), fmt(jobsPerSecond, 2), fmt(jobsPerSecond / reference, 2) + 'x']);
      process.stderr.write(`  ${workers} worker(s): ${fmt(jobsPerSecond, 2)} jobs/s\n`);
    }
    return [
      `jobs/s by worker processes (${JOBS} generations per step, tiny-sd1 64x64, ${STEPS} steps, ${WORKER_THREADS} ONNX Runtime thread(s) per worker, one API process, ${cpus().length} CPU cores)`,
      table(['workers', 'seconds', 'jobs/s', 'vs 1 worker'], rows),
    ].join('\n');
  } finally {
    await stopCluster(cluster);
    active = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// (c) API requests/s, one vs two API processes

async function benchApi(): Promise<string> {
  const cluster = (active = await startCluster({ workers: 1, apis: 2, env: { DARKROOM_RATE_LIMIT: '0' } }));
  try {
    const key = await benchUser(cluster, 10);
    const bases = cluster.apis.map((a) => a.url);
    const rps = async (targets: string[]) => {
      let turn = 0;
      const started = performance.now();
      await bounded(API_REQUESTS, API_CONCURRENCY, () => call(targets[turn++ % targets.length]!, key, '/v1/credits'));
      return API_REQUESTS / ((performance.now() - started) / 1000);
    };
    await rps(bases); // warm-up both
    const one: number[] = [];
    const two: number[] = [];
    // Alternate, so drift (other load on the machine) falls on both.
    for (let round = 0; round < 2; round++) {
      one.push(await rps(bases.slice(0, 1)));
      two.push(await rps(bases));
    }
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const rows = [
      ['1', one.map((x) => fmt(x, 0)).join(', '), fmt(mean(one), 0), '1.00x'],
      ['2 (requests alternate)', two.map((x) => fmt(x, 0)).join(', '), fmt(mean(two), 0), fmt(mean(two) / mean(one), 2) + 'x'],
    ];
    return [
      `API requests/s, GET /v1/credits (${API_REQUESTS} requests per run, ${API_CONCURRENCY} in flight, load generator on the same ${cpus().length} cores)`,
      table(['API processes', 'runs (req/s)', 'mean req/s', 'vs 1 API'], rows),
    ].join('\n');
  } finally {
    await stopCluster(cluster);
    active = undefined;
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const asked = process.argv.slice(2);
  const parts = asked.length ? asked : ['queue', 'workers', 'api'];
  const known: Record<string, () => Promise<string>> = { queue: benchQueue, workers: benchWorkers, api: benchApi };
  for (const p of parts) if (!known[p]) throw new Error(`unknown part ${p}; one or more of ${Object.keys(known).join(', ')}`);
  process.stdout.write(`darkroom scale-out figures, ${new Date().toISOString()}, node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'CPU'}\n\n`);
  for (const p of parts) {
    process.stderr.write(`${p}...\n`);
    process.stdout.write((await known[p]!()) + '\n\n');
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    if (stopping) return; // requests cut off by a signal's stop: the signal handler exits
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
