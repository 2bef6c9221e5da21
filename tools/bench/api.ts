/**
 * The API's own cost per request, against a bare Fastify route measured in the same run:
 *
 *   credits   authenticated GET /v1/credits (key lookup, rate limiter, balance, JSON answer)
 *   models    GET /v1/image/generation/models (no key)
 *   create    POST /v1/image/generation/create with a stand-in engine that answers at once
 *             (test/helpers/fast-engine.ts): validation, charge, queue, worker, encoding and storing
 *             one 256 x 256 image, the answer; the route's overhead, not the model's
 *   fastify   the reference: a bare Fastify GET route answering a JSON body of the same shape
 *
 * The Darkroom server (embedded mode: SQLite in a temporary folder, the tiny test model installed,
 * rate limit off, request log lines formatted and dropped) and the Fastify server each run in a
 * child process; this process only drives autocannon against one of them at a time, on loopback.
 * Targets alternate within each round; each figure is the median over the rounds, each ratio is
 * against the Fastify reference of the same run. Besides req/s and p99 latency it reports the server
 * process's CPU time per request, which other load on the machine disturbs far less than req/s.
 *
 *   npm run bench:api -- [--rounds 5] [--duration 5] [--connections 50] [--only credits,models,create] [--json out.json]
 *                        [--cpu-prof DIR]   (the Darkroom server runs under node --cpu-prof, its profile written to DIR)
 *                        [--baseline DIR]   (also serve another checkout of Darkroom, e.g. `git worktree add DIR <rev>`,
 *                                            and measure each route on it too, in the same rounds: before and after)
 *
 * With --baseline, each route's CPU a request is also given against the baseline's: the median of
 * the per-round ratios, each round measuring both back to back, so that the machine's drift cancels.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { machineInfo } from './measure.ts';

type ServerKind = 'darkroom' | 'fastify' | 'baseline';

interface Target {
  id: string;
  name: string;
  server: ServerKind;
  path: string;
  method?: 'GET' | 'POST';
  auth?: boolean;
  body?: string;
  /** On the baseline server: the name of the target it is the baseline of. */
  baselineOf?: string;
}

const CREATE_BODY = JSON.stringify({ prompt: 'a grey square', width: 256, height: 256, num_outputs: 1, num_inference_steps: 10 });

const TARGETS: readonly Target[] = [
  { id: 'fastify', name: 'fastify GET (reference)', server: 'fastify', path: '/v1/credits' },
  { id: 'credits', name: 'GET /v1/credits (key)', server: 'darkroom', path: '/v1/credits', auth: true },
  { id: 'models', name: 'GET /v1/image/generation/models', server: 'darkroom', path: '/v1/image/generation/models' },
  { id: 'create', name: 'POST /v1/image/generation/create', server: 'darkroom', path: '/v1/image/generation/create', method: 'POST', auth: true, body: CREATE_BODY },
];

interface Sample {
  requestsPerSecond: number;
  p99Ms: number;
  /** The server process's CPU time per answered request: steadier than req/s on a busy machine. */
  cpuMicrosPerRequest: number;
  non2xx: number;
  errors: number;
}

interface Served {
  url: string;
  key?: string;
}

/** Child mode: serve one side and print `{ url, key }` as one JSON line; stop when stdin closes. */
async function serve(which: string): Promise<void> {
  let close: () => Promise<void>;
  let served: Served;
  if (which === 'fastify') {
    const { default: Fastify } = await import('fastify');
    const app = Fastify({ logger: false });
    const credits = { id: '00000000-0000-5000-8000-000000000000', remaining_amount: 100, expires_at: '2100-01-01T00:00:00Z' };
    app.get('/v1/credits', async () => ({ total_remaining_credits: 100, credits: [credits] }));
    served = { url: await app.listen({ host: '127.0.0.1', port: 0 }) };
    close = () => app.close();
  } else {
    const { loadConfig } = await import('../../src/config/config.ts');
    const { startServer } = await import('../../src/server/server.ts');
    const { testModelDir } = await import('../test-models/cache.ts');
    const { fastEngine } = await import('../../test/helpers/fast-engine.ts');
    const dataDir = mkdtempSync(join(tmpdir(), 'darkroom-bench-api-'));
    mkdirSync(join(dataDir, 'models'));
    symlinkSync(await testModelDir('tiny-sd1'), join(dataDir, 'models', 'tiny-sd1'));
    const config = loadConfig({
      DARKROOM_DATA_DIR: dataDir,
      DARKROOM_PORT: '0',
      DARKROOM_HOST: '127.0.0.1',
      DARKROOM_DEFAULT_MODEL: 'tiny-sd1',
      DARKROOM_RATE_LIMIT: '0',
      DARKROOM_MAX_IN_FLIGHT: '1000',
    });
    let key = '';
    const server = await startServer(config, { engine: fastEngine, log: () => undefined, onAdminKey: (secret) => (key = secret) });
    const admin = await server.services.accounts.userByName('admin');
    await server.services.credits.grant(admin.id, 1e11);
    served = { url: server.url, key };
    close = async () => {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    };
  }
  process.stdout.write(JSON.stringify(served) + '\n');
  // Each line on stdin asks for the CPU time this process has used so far (µs, user + system).
  createInterface({ input: process.stdin }).on('line', () => {
    const { user, system } = process.cpuUsage();
    process.stdout.write(`${user + system}\n`);
  });
  process.stdin.on('end', () => void close().then(() => process.exit(0)));
}

interface Server {
  child: ChildProcess;
  served: Served;
  /** CPU time the server process has used so far, in µs. */
  cpu(): Promise<number>;
}

/** `baseline`: the Darkroom server of the checkout in `baselineDir`, on this checkout's test models. */
function start(which: ServerKind, options: { cpuProfDir?: string; baselineDir?: string } = {}): Promise<Server> {
  const profile = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
  const self = fileURLToPath(import.meta.url);
  const script = which === 'baseline' ? join(options.baselineDir!, 'tools', 'bench', 'api.ts') : self;
  const env = { DARKROOM_TEST_MODELS_DIR: fileURLToPath(new URL('../../test/.models', import.meta.url)), ...process.env };
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', script, '--serve', which === 'fastify' ? 'fastify' : 'darkroom'], {
    cwd: which === 'baseline' ? options.baselineDir : undefined,
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const next = () => new Promise<string>((resolve) => lines.once('line', resolve));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${which} server exited (${code}) before it was ready`)));
    void next().then((line) =>
      resolve({
        child,
        served: JSON.parse(line) as Served,
        cpu: () => {
          const answer = next();
          child.stdin!.write('cpu\n');
          return answer.then(Number);
        },
      }),
    );
  });
}

async function measure(target: Target, server: Server, seconds: number, connections: number): Promise<Sample> {
  const { served } = server;
  const headers: Record<string, string> = {};
  if (target.auth) headers['authorization'] = `Bearer ${served.key}`;
  if (target.body) headers['content-type'] = 'application/json';
  const cpuBefore = await server.cpu();
  const r = await autocannon({ url: served.url + target.path, method: target.method ?? 'GET', headers, body: target.body, connections, duration: seconds });
  const cpuMicros = (await server.cpu()) - cpuBefore;
  return {
    requestsPerSecond: r.requests.average,
    p99Ms: r.latency.p99,
    cpuMicrosPerRequest: cpuMicros / Math.max(1, r.requests.total),
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      serve: { type: 'string' },
      rounds: { type: 'string', default: '5' },
      duration: { type: 'string', default: '5' },
      connections: { type: 'string', default: '50' },
      json: { type: 'string' },
      only: { type: 'string' },
      'cpu-prof': { type: 'string' },
      baseline: { type: 'string' },
    },
  });
  if (values.serve) return serve(values.serve);
  const rounds = Number(values.rounds);
  const seconds = Number(values.duration);
  const connections = Number(values.connections);
  const only = values.only?.split(',');
  // The reference is always measured: every figure is a ratio against it.
  const chosen = TARGETS.filter((t) => t.id === 'fastify' || !only || only.includes(t.id));
  const baselineDir = values.baseline;
  const targets = baselineDir
    ? chosen.flatMap((t) => (t.server === 'darkroom' ? [t, { ...t, id: `${t.id}-baseline`, name: `${t.name} [baseline]`, server: 'baseline' as const, baselineOf: t.name }] : [t]))
    : chosen;

  const servers: Partial<Record<ServerKind, Server>> = {
    darkroom: await start('darkroom', { cpuProfDir: values['cpu-prof'] }),
    fastify: await start('fastify'),
    ...(baselineDir ? { baseline: await start('baseline', { baselineDir }) } : {}),
  };
  const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
  try {
    // Warm-up: JIT, SQLite page cache, the first images written.
    for (const t of targets) await measure(t, servers[t.server]!, 2, connections);
    for (let round = 1; round <= rounds; round++) {
      for (const t of targets) {
        const s = await measure(t, servers[t.server]!, seconds, connections);
        samples.get(t.name)!.push(s);
        process.stderr.write(`round ${round}/${rounds} ${t.name}: ${Math.round(s.requestsPerSecond)} req/s, p99 ${s.p99Ms} ms, ${Math.round(s.cpuMicrosPerRequest)} µs CPU/request\n`);
      }
    }
  } finally {
    for (const { child } of Object.values(servers) as Server[]) {
      child.removeAllListeners('exit');
      child.stdin!.end();
    }
  }

  const rows = targets.map((t) => {
    const s = samples.get(t.name)!;
    return {
      target: t.name,
      requestsPerSecond: Math.round(median(s.map((x) => x.requestsPerSecond))),
      p99Ms: median(s.map((x) => x.p99Ms)),
      cpuMicrosPerRequest: Math.round(median(s.map((x) => x.cpuMicrosPerRequest))),
      failed: s.reduce((n, x) => n + x.non2xx + x.errors, 0),
    };
  });
  const reference = rows[0]!;
  const machine = machineInfo();
  console.log(`\n${machine.cpu}, ${machine.cores} cores, node ${machine.node}; ${connections} connections, ${rounds} rounds of ${seconds} s, medians\n`);
  console.log('| target | req/s | req/s vs fastify | p99 ms | server CPU µs/request | CPU vs fastify | failed |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const speed = (r.requestsPerSecond / reference.requestsPerSecond).toFixed(2);
    const cpu = (reference.cpuMicrosPerRequest / r.cpuMicrosPerRequest).toFixed(2);
    console.log(`| ${r.target} | ${r.requestsPerSecond} | ${speed}x | ${r.p99Ms} | ${r.cpuMicrosPerRequest} | ${cpu}x | ${r.failed} |`);
  }
  for (const t of targets.filter((x) => x.baselineOf)) {
    const mine = samples.get(t.baselineOf!)!;
    const theirs = samples.get(t.name)!;
    const ratio = median(mine.map((m, i) => m.cpuMicrosPerRequest / theirs[i]!.cpuMicrosPerRequest));
    console.log(`${t.baselineOf}: CPU a request ${ratio.toFixed(3)}x the baseline's (median of ${mine.length} paired rounds)`);
  }
  if (values.json) await writeFile(values.json, JSON.stringify({ tool: 'darkroom-bench-api', date: new Date().toISOString(), machine, connections, rounds, seconds, rows, samples: Object.fromEntries(samples) }, null, 2));
}

await main();
