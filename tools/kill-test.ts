/**
 * The kill test: Darkroom scaled out (2 API processes, 2 workers, Postgres, Redis, S3 on loopback),
 * under a load of generations in three dialects (the shipped demo model, 512 x 512), while workers are killed with SIGKILL mid-generation
 * (and replaced), Redis is restarted once, and an API process holding SSE streams is killed. Then it
 * checks what "no job lost" means and prints the counts:
 *  - every accepted job ended: succeeded, or failed and refunded exactly once (one refund row, the full cost);
 *  - no job is left queued or running; every output's image is in the store;
 *  - the ledger equals grants minus the images delivered at each dialect's price, and the balance equals the ledger;
 *  - 500 concurrent overdraw attempts across both APIs: the balance never goes negative.
 *
 *   node --import tsx tools/kill-test.ts [--kills 20] [--jobs 60] [--overdraw 500] [--json]
 *
 * Exit 0 when every check holds. test/e2e/kill.test.ts runs a short form in CI.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { startCluster, type Cluster } from '../test/helpers/cluster.ts';

const { values: args } = parseArgs({
  options: {
    kills: { type: 'string', default: '20' },
    jobs: { type: 'string', default: '60' },
    overdraw: { type: 'string', default: '500' },
    steps: { type: 'string', default: '30' },
    json: { type: 'boolean', default: false },
  },
});
const KILLS = Number(args.kills);
const JOBS = Number(args.jobs);
const OVERDRAW = Number(args.overdraw);
const STEPS = Number(args.steps);
const say = (m: string) => {
  if (!args.json) process.stderr.write(`kill-test: ${m}\n`);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What each dialect charges per delivered image (src/core/pricing.ts tariffs). */
const PRICE: Record<string, number> = { stablecog: 1, leonardo: 1, stability: 6 };

async function userWithKey(c: Cluster, name: string, credits: number): Promise<{ id: string; key: string }> {
  const { accounts, credits: ledger } = c.admin.services;
  const user = await accounts.createUser(name);
  const start = await ledger.balance(user.id);
  if (credits > start) await ledger.grant(user.id, credits - start);
  return { id: user.id, key: (await accounts.createKey(user.id)).secret };
}

interface Sent {
  dialect: string;
  status: number | 'no answer';
}

function send(c: Cluster, n: number, key: string, streamId?: string): Promise<Sent> {
  const api = c.apis[n % c.apis.length]!.url;
  const headers = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };
  const dialect = ['stablecog', 'leonardo', 'stability'][n % 3]!;
  const req =
    dialect === 'stablecog'
      ? fetch(`${api}/v1/image/generation/create`, { method: 'POST', headers, body: JSON.stringify({ prompt: `job ${n}`, width: 512, height: 512, inference_steps: STEPS, num_outputs: 1 + (n % 2), ...(streamId ? { stream_id: streamId } : {}) }) })
      : dialect === 'leonardo'
        ? fetch(`${api}/api/rest/v1/generations`, { method: 'POST', headers, body: JSON.stringify({ prompt: `job ${n}`, width: 512, height: 512, num_inference_steps: STEPS, num_images: 1 }) })
        : fetch(`${api}/api/generate/core`, { method: 'POST', headers, body: JSON.stringify({ prompt: `job ${n}`, width: 512, height: 512 }) });
  return req.then(
    async (r) => {
      await r.arrayBuffer();
      return { dialect, status: r.status };
    },
    () => ({ dialect, status: 'no answer' as const }),
  );
}

async function runningCount(c: Cluster): Promise<number> {
  const r = await c.admin.db.kysely.selectFrom('generations').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'running').executeTakeFirstOrThrow();
  return Number(r.n);
}

async function main(): Promise<void> {
  const started = Date.now();
  const c = await startCluster({
    workers: 2,
    apis: 2,
    env: { DARKROOM_DEFAULT_MODEL: 'darkroom-demo', DARKROOM_INITIAL_CREDITS: '0', DARKROOM_JOB_LEASE: '4', DARKROOM_WORKER_CONCURRENCY: '1', DARKROOM_MAX_IN_FLIGHT: '200', DARKROOM_MAX_QUEUED: '1000', DARKROOM_GENERATION_TIMEOUT: '900' },
  });
  const counts = { jobs: JOBS, kills: 0, killsMidGeneration: 0, redisRestarts: 0, apiKills: 0, answers: {} as Record<string, number>, succeeded: 0, failed: 0, failedWhy: {} as Record<string, number>, retried: 0, outputs: 0, missingObjects: 0, overdraw: { attempts: OVERDRAW, accepted: 0, finalBalance: 0 }, seconds: 0 };
  const problems: string[] = [];
  try {
    const grant = JOBS * 12;
    const u = await userWithKey(c, 'load', grant);
    // SSE streams held on the API process that will be killed.
    const streamIds = [0, 1, 2].map(() => randomBytes(16).toString('hex'));
    const streams = streamIds.map((id) =>
      fetch(`${c.apis[1]!.url}/v1/sse?id=${id}`, { headers: { Authorization: `Bearer ${u.key}` } }).then((r) => r.body?.cancel().catch(() => undefined), () => undefined),
    );
    say(`cluster up; sending ${JOBS} jobs`);
    const sent = Array.from({ length: JOBS }, (_, n) => send(c, n, u.key, n < streamIds.length * 3 ? streamIds[n % streamIds.length] : undefined));

    for (let k = 0; k < KILLS; k++) {
      // Kill when every worker is busy: the one killed is then surely mid-generation.
      const until = Date.now() + 60_000;
      let busy = false;
      while (Date.now() < until && !(busy = (await runningCount(c)) >= c.workers.length)) await sleep(50);
      const victim = c.workers.splice(Math.floor(Math.random() * c.workers.length), 1)[0]!;
      victim.child.kill('SIGKILL');
      await victim.exited;
      counts.kills++;
      if (busy) counts.killsMidGeneration++;
      await c.startWorker();
      if (k === Math.floor(KILLS / 2)) {
        await c.redis.restart(200);
        counts.redisRestarts++;
        say('redis restarted');
      }
      if (k === 0) {
        const api = c.apis.splice(1, 1)[0]!;
        api.child.kill('SIGKILL');
        await api.exited;
        counts.apiKills++;
        await c.startApi();
        say('an API process holding SSE streams was killed and replaced');
      }
      say(`kill ${k + 1}/${KILLS}${busy ? ' (mid-generation)' : ''}`);
    }
    await Promise.all(streams);
    for (const r of await Promise.all(sent)) {
      const k = `${r.dialect} ${r.status}`;
      counts.answers[k] = (counts.answers[k] ?? 0) + 1;
    }
    // Everything accepted ends, whatever answered the client.
    const db = c.admin.db.kysely;
    const deadline = Date.now() + 10 * 60_000;
    while (Date.now() < deadline) {
      const open = await db.selectFrom('generations').select('id').where('status', 'in', ['queued', 'running']).execute();
      if (!open.length) break;
      await sleep(500);
    }

    const gens = await db.selectFrom('generations').selectAll().where('user_id', '=', u.id).execute();
    const refunds = await db.selectFrom('credit_ledger').select(['generation_id', 'delta']).where('user_id', '=', u.id).where('reason', '=', 'refund').execute();
    const outputs = await db.selectFrom('generation_outputs').select(['generation_id', 'image_key']).where('user_id', '=', u.id).execute();
    let delivered = 0;
    for (const g of gens) {
      const dialect = (JSON.parse(g.settings) as { dialect?: string }).dialect ?? 'stablecog';
      const mine = refunds.filter((r) => r.generation_id === g.id);
      const outs = outputs.filter((o) => o.generation_id === g.id).length;
      if (g.attempts > 1) counts.retried++;
      if (g.status === 'queued' || g.status === 'running') problems.push(`generation ${g.id} left ${g.status}`);
      if (g.status === 'failed') {
        counts.failed++;
        const why = (g.error ?? '').replace(/[0-9a-f-]{36}/g, '<id>').slice(0, 80);
        counts.failedWhy[why] = (counts.failedWhy[why] ?? 0) + 1;
        const sum = mine.reduce((a, r) => a + Number(r.delta), 0);
        if (mine.length !== 1 || sum !== Number(g.cost)) problems.push(`failed generation ${g.id}: ${mine.length} refund rows summing ${sum}, cost ${g.cost}`);
      }
      if (g.status === 'succeeded') counts.succeeded++;
      delivered += outs * PRICE[dialect]!;
    }
    counts.outputs = outputs.length;
    const store = c.admin.services.store;
    for (const o of outputs) if (!(await store.exists(o.image_key))) counts.missingObjects++;
    if (counts.missingObjects) problems.push(`${counts.missingObjects} output images missing from the store`);
    const audit = await c.admin.services.credits.audit(u.id);
    if (audit.balance !== audit.ledgerSum) problems.push(`balance ${audit.balance} != ledger sum ${audit.ledgerSum}`);
    if (audit.balance !== grant - delivered) problems.push(`balance ${audit.balance} != grants ${grant} - delivered ${delivered}`);
    if (gens.length === 0) problems.push('no generation was accepted');

    // Overdraw: many more requests than credits, across both API processes at once.
    const poor = await userWithKey(c, 'poor', 7);
    const tries = await Promise.all(
      Array.from({ length: OVERDRAW }, (_, n) =>
        fetch(`${c.apis[n % c.apis.length]!.url}/v1/image/generation/create`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${poor.key}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ prompt: 'overdraw', width: 256, height: 256, inference_steps: 10, num_outputs: 1 }),
        }).then(
          async (r) => (await r.arrayBuffer(), r.status),
          () => 0,
        ),
      ),
    );
    counts.overdraw.accepted = tries.filter((s) => s === 200).length;
    const poorAudit = await c.admin.services.credits.audit(poor.id);
    counts.overdraw.finalBalance = poorAudit.balance;
    if (poorAudit.balance < 0 || poorAudit.balance !== poorAudit.ledgerSum) problems.push(`overdraw: balance ${poorAudit.balance}, ledger ${poorAudit.ledgerSum}`);
    if (counts.overdraw.accepted > 7) problems.push(`overdraw: ${counts.overdraw.accepted} accepted with 7 credits`);
  } finally {
    await c.close();
  }
  counts.seconds = Math.round((Date.now() - started) / 1000);
  const report = { ...counts, problems };
  process.stdout.write(`${JSON.stringify(report, null, args.json ? 0 : 2)}\n`);
  process.exit(problems.length ? 1 : 0);
}

await main();
