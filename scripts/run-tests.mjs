#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner (tsx loads TypeScript).
// Node 20's --test takes no globs, so the files are listed here. Args narrow the set:
// `node scripts/run-tests.mjs engine` runs only files whose path contains "engine". The whole run
// (no args) then runs the scaled-out end-to-end pass; DARKROOM_TEST_MODE=scaled runs the named files scaled out.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (name.startsWith('.') || name === 'node_modules') return [];
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}

const filters = process.argv.slice(2);
const files = walk('test').filter((f) => filters.length === 0 || filters.some((x) => f.includes(x))).sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const concurrency = process.env.DARKROOM_TEST_CONCURRENCY ?? '2';
// A hung test fails after 5 minutes instead of holding CI past its 30 (the longest test takes about 100 s on 2 loaded cores).
const TEST_TIMEOUT_MS = 300_000;
// A file's process ends once its tests have: a timer a test leaves behind must not hold CI for its
// 30 minutes. test/queue/backend.test.ts once did (BullMQ's lock extender, left running by a Worker
// closed while Redis restarted; dropWorker in src/queue/bullmq.ts now stops it).
const FORCE_EXIT = '--test-force-exit';
// DARKROOM_FROM_SOURCES: the CLI the tests start runs the sources, never a build in dist/ (test/cli/build.test.ts tests one).
const run = (list, env = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${TEST_TIMEOUT_MS}`, FORCE_EXIT, ...list], {
    stdio: 'inherit',
    env: { ...process.env, DARKROOM_FROM_SOURCES: '1', ...env },
  }).status ?? 1;

// The end-to-end suites that also run scaled out (test/helpers/cluster.ts: two API processes and two
// workers over Postgres, Redis and S3). The others use a stand-in engine or the local data directory.
const SCALED_SUITES = ['generation', 'sse', 'leonardo.test', 'openai', 'stability', 'accounts', 'images', 'concurrency', 'idempotency'].map(
  (name) => files.find((f) => f.startsWith(join('test', 'e2e', name))),
);
const embedded = run(files);
const scaled = filters.length === 0 && process.env.DARKROOM_TEST_MODE !== 'embedded' ? run(SCALED_SUITES.filter(Boolean), { DARKROOM_TEST_MODE: 'scaled' }) : 0;
process.exit(embedded || scaled);
